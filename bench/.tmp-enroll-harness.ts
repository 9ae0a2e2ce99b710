// Scratch harness: one hub, one mode, hub CPU per enrollment, optional profile.
//   MODE=keep|fresh N=800 PROFILE=dir node --import tsx /tmp/ep/harness.ts
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent } from 'undici';
import { createCsr, generateKeyPem } from '../src/agent/enrollment/index.ts';
import { generateBootstrapToken, hashTokenSecret } from '../src/api/index.ts';
import { removeDir, startHubProcess } from '../test/support/index.ts';
import { cpuMeter, credentialsOf, hubArgs, machineLoad } from './support/index.ts';

const MODES = (process.env.MODE ?? 'keep,fresh').split(',');
const N = Number(process.env.N ?? 800);
const cache = '/tmp/ep/csrs.json';
let csrs: string[] = existsSync(cache) ? JSON.parse(readFileSync(cache, 'utf8')) : [];
const total = 200 + N * MODES.length;
while (csrs.length < total) csrs.push(await createCsr(await generateKeyPem(), `bench-${csrs.length}`));
writeFileSync(cache, JSON.stringify(csrs));
const FACTS = { hostname: 'bench', os: 'linux', architecture: 'amd64', cpus: 2, memoryBytes: 4 * 1024 ** 3, machineId: '0123456789abcdef0123456789abcdef' };
const env = process.env.PROFILE ? { NODE_OPTIONS: `--import=/work/main/bench/support/cpu-profiler.mjs`, BENCH_HUB_PROFILE: process.env.PROFILE } : {};
const hub = await startHubProcess({ args: hubArgs(), env });
try {
  const c = credentialsOf(hub.kubeconfig);
  const admin = new Agent({ connect: { ca: c.ca, cert: c.cert, key: c.key } });
  const { id, secret, token } = generateBootstrapToken();
  const r = await admin.request({ origin: c.origin, method: 'POST', path: '/apis/outpost.dev/v1alpha1/bootstraptokens', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ apiVersion: 'outpost.dev/v1alpha1', kind: 'BootstrapToken', metadata: { name: id }, spec: { secretHash: hashTokenSecret(secret), approval: 'auto' } }) });
  await r.body.text(); await admin.close();
  const bodies = csrs.slice(0, total).map((csr, i) => JSON.stringify({ token, name: `bench-${i}`, csr, facts: FACTS })).reverse();
  const run = async (count: number, fresh: boolean, label: string) => {
    const d = new Agent({ connect: { ca: c.ca, ...(fresh ? { maxCachedSessions: 0 } : {}) }, connections: Number(process.env.CONNS ?? 16), pipelining: 1 });
    const cpu = cpuMeter(hub.process.pid!);
    const t0 = performance.now();
    let ok = 0, failed = 0, first = '';
    let left = count;
    await Promise.all(Array.from({ length: 32 }, async () => {
      while (left-- > 0) {
        const res = await d.request({ origin: c.origin, method: 'POST', path: '/enroll', body: bodies.pop()!, headers: { 'content-type': 'application/json' }, reset: fresh });
        const text = await res.body.text();
        if (res.statusCode === 201) ok++; else { failed++; first ||= `${res.statusCode} ${text.slice(0, 200)}`; }
      }
    }));
    const s = (performance.now() - t0) / 1000; const used = cpu.stop();
    await d.close();
    console.log(`${label}: ${ok} ok ${failed} failed ${first} in ${s.toFixed(1)} s = ${(ok / s).toFixed(1)}/s; hub CPU ${(used / ok * 1000).toFixed(2)} ms each (${(used / s).toFixed(2)} cores)`);
  };
  await run(200, false, 'warm-up');
  if (process.env.PROFILE) hub.process.kill('SIGUSR2');
  for (const m of MODES) await run(N, m === 'fresh', m);
  console.log(machineLoad());
} finally {
  await hub.stop();
  await removeDir(hub.dataDir);
}
