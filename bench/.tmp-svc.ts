// Scratch: CPU of the pieces of an enrollment, in process (SQLite FULL, no HTTP).
import { readFileSync } from 'node:fs';
import { buildHub } from '../src/hub/index.ts';
import { SqliteStore } from '../src/store/index.ts';
import { generateBootstrapToken, hashTokenSecret } from '../src/api/index.ts';
import { createCertificateAuthority } from '../src/hub/pki/index.ts';
import { removeDir, tempDir } from '../test/support/index.ts';

const csrs: string[] = JSON.parse(readFileSync('/tmp/ep/csrs.json', 'utf8'));
const dir = await tempDir('ep-');
const store = new SqliteStore({ path: `${dir}/hub.db`, synchronous: (process.env.SYNC as 'FULL') ?? 'FULL' });
const { ca } = await createCertificateAuthority();
const { app, service } = buildHub({ store, authenticate: () => undefined, version: 't', enrollment: { ca } });
await app.ready();
const { id, secret, token } = generateBootstrapToken();
await service.create(service.registry.byKind('outpost.dev/v1alpha1', 'BootstrapToken')!, undefined,
  { apiVersion: 'outpost.dev/v1alpha1', kind: 'BootstrapToken', metadata: { name: id }, spec: { secretHash: hashTokenSecret(secret), approval: 'auto' } } as never, { fieldManager: 'x' });
const FACTS = { hostname: 'bench', os: 'linux', architecture: 'amd64', cpus: 2, memoryBytes: 4 * 1024 ** 3, machineId: '0123456789abcdef0123456789abcdef' };
let next = 0;
const CONC = Number(process.env.CONC ?? 16);
async function round(n: number, label: string) {
  const t = process.cpuUsage(); const w = performance.now();
  let left = n;
  await Promise.all(Array.from({ length: CONC }, async () => {
    while (left-- > 0) {
      const i = next++;
      const r = await app.inject({ method: 'POST', url: '/enroll', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ token, name: `bench-${i}`, csr: csrs[i], facts: FACTS }) });
      if (r.statusCode !== 201) throw new Error(r.body);
    }
  }));
  const u = process.cpuUsage(t);
  console.log(label, `conc ${CONC}`, ((u.user + u.system) / n / 1000).toFixed(3), 'ms CPU each (user', (u.user / n / 1000).toFixed(3), 'sys', (u.system / n / 1000).toFixed(3), ')', (n / (performance.now() - w) * 1000).toFixed(0), '/s');
}
await round(300, 'warm-up');
await round(700, 'enroll');
await round(700, 'enroll');
await app.close(); await store.close(); await removeDir(dir);
