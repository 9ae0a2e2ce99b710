// Scratch: server CPU per new connection, hub vs bare servers.
import { join } from 'node:path';
import { connect } from 'node:tls';
import { Agent } from 'undici';
import { removeDir, startHubProcess } from '../test/support/index.ts';
import { cpuMeter, credentialsOf, hubArgs, startBareServer } from './support/index.ts';

const N = Number(process.env.N ?? 600);
const hub = await startHubProcess({ args: hubArgs() });
const c = credentialsOf(hub.kubeconfig);
const bare = await startBareServer(join(hub.dataDir, 'pki'));
const fast = await startBareServer(join(hub.dataDir, 'pki'), { fastify: true });
const body = 'x'.repeat(1500);
async function http(origin: string, pid: number, mode: 'keep' | 'fresh' | 'resume', method: string, path: string) {
  const d = new Agent({ connect: { ca: c.ca, ...(mode === 'fresh' ? { maxCachedSessions: 0 } : {}) }, connections: 16, pipelining: 1 });
  let left = N;
  const cpu = cpuMeter(pid);
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (left-- > 0) {
      const r = await d.request({ origin, method: method as 'GET', path, body: method === 'POST' ? body : undefined, reset: mode !== 'keep' });
      await r.body.text();
    }
  }));
  const used = cpu.stop();
  await d.close();
  return (used / N) * 1000;
}
async function shake(origin: string, pid: number, withCert: boolean) {
  const { hostname, port } = new URL(origin);
  let left = N;
  const cpu = cpuMeter(pid);
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (left-- > 0)
      await new Promise<void>((resolve, reject) => {
        const s = connect({ host: hostname, port: Number(port), ca: c.ca, ...(withCert ? { cert: c.cert, key: c.key } : {}), servername: 'localhost' }, () => { s.destroy(); resolve(); });
        s.once('error', reject);
      });
  }));
  return (cpu.stop() / N) * 1000;
}
try {
  const servers = [['hub', c.origin, hub.process.pid!, 'GET', '/enroll/ca'], ['bare', bare.origin, bare.process.pid!, 'POST', '/x'], ['fastify', fast.origin, fast.process.pid!, 'POST', '/x']] as const;
  for (const [name, origin, pid, method, path] of servers) await http(origin, pid, 'keep', method, path); // warm-up
  for (let round = 0; round < 2; round++)
    for (const [name, origin, pid, method, path] of servers) {
      const out = {
        shakeNoCert: await shake(origin, pid, false),
        shakeCert: await shake(origin, pid, true),
        keep: await http(origin, pid, 'keep', method, path),
        fresh: await http(origin, pid, 'fresh', method, path),
        resume: await http(origin, pid, 'resume', method, path),
      };
      console.log(name, method, path, Object.entries(out).map(([k, v]) => `${k} ${v.toFixed(2)}`).join('  '));
    }
} finally {
  await bare.stop(); await fast.stop(); await hub.stop(); await removeDir(hub.dataDir);
}
