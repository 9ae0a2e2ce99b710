import { buildHub } from '../src/hub/index.ts';
import { parse } from '../src/hub/kube-api/index.ts';
import { SqliteStore } from '../src/store/index.ts';
import { removeDir, tempDir } from '../test/support/index.ts';
const dir = await tempDir('ep-');
const store = new SqliteStore({ path: `${dir}/hub.db`, synchronous: 'NORMAL' });
const { app, service } = buildHub({ store, authenticate: () => undefined, version: 't' });
await app.ready();
const def = service.registry.byKind('outpost.dev/v1alpha1', 'Device')!;
const FACTS = { hostname: 'bench', os: 'linux', architecture: 'amd64', cpus: 2, memoryBytes: 4 * 1024 ** 3, machineId: '0123456789abcdef0123456789abcdef' };
const dev = (name: string) => ({ apiVersion: 'outpost.dev/v1alpha1', kind: 'Device', metadata: { name, annotations: { 'outpost.dev/enrollment-public-key': 'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE'.padEnd(124, 'A'), 'outpost.dev/bootstrap-token': 'abcdef' } }, spec: { approved: true } });
let i = 0;
async function time(label: string, n: number, fn: () => Promise<unknown>) {
  for (let k = 0; k < 200; k++) await fn();
  const t = process.cpuUsage();
  await Promise.all(Array.from({ length: 16 }, async () => { for (let k = 0; k < n / 16; k++) await fn(); }));
  const u = process.cpuUsage(t);
  console.log(label, ((u.user + u.system) / n / 1000).toFixed(3), 'ms');
}
for (let r = 0; r < 2; r++) {
await time('create+status one write', 1600, () => service.create(def, undefined, dev(`d${i++}`) as never, { fieldManager: 'e', initialStatus: { phase: 'Pending', system: FACTS } }));
await time('create, then status update', 1600, async () => {
  const c = parse(await service.create(def, undefined, dev(`d${i++}`) as never, { fieldManager: 'e' }));
  await service.update(def, undefined, c.metadata.name!, { ...c, status: { phase: 'Pending', system: FACTS } }, { fieldManager: 'e' }, 'status');
});
await time('create only', 1600, () => service.create(def, undefined, dev(`d${i++}`) as never, { fieldManager: 'e' }));
await time('get', 1600, () => service.get(def, undefined, `d${i++ % 1000}`));
}
const a = parse(await service.create(def, undefined, dev('cmp-a') as never, { fieldManager: 'e', initialStatus: { phase: 'Pending', system: FACTS } }));
let b = parse(await service.create(def, undefined, dev('cmp-b') as never, { fieldManager: 'e' }));
b = parse(await service.update(def, undefined, 'cmp-b', { ...b, status: { phase: 'Pending', system: FACTS } }, { fieldManager: 'e' }, 'status'));
console.log(JSON.stringify(a.metadata.managedFields) === JSON.stringify(b.metadata.managedFields), JSON.stringify(a.metadata.managedFields));
console.log(JSON.stringify(a.status) === JSON.stringify(b.status));
await app.close(); await store.close(); await removeDir(dir);
