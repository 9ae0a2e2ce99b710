/**
 * The agent's cost of device policies: an `outpost hub` process and one
 * `outpost agent` process (compiled, `--runtime process`) whose Device
 * declares 50 profile conditions (5 profiles of 10, over 50 metrics, a third
 * with `for:` and all with hysteresis), running 10 placed Workloads each
 * gated on a condition that holds. Once all 10 run:
 *
 * - `idle`: the agent's CPU with the policies loaded (its own measurements,
 *   the ticks), for `BENCH_SECONDS` (default 20 s);
 * - `1,000 POSTs/s`: a local program POSTs one metric per request
 *   (device-worker-ng's body, keep-alive connections) at 1,000 requests a
 *   second, each metric a random walk around its condition's threshold (so
 *   conditions do change now and then, each change a log line and, at most
 *   once a second, a Device status and Events), for the same time; the
 *   agent's CPU over it. The 10 gated workloads' metrics are posted too, low,
 *   so they keep running;
 *
 * The agent's resident memory (RSS, /proc/PID/status) after both.
 * Goals: under 5 % of a core at 1,000 POSTs/s; memory within the
 * agent-memory goal (50 MB).
 *
 *   npm run bench -- device-policies
 *
 * `BENCH_AGENT_PROFILE=DIR` runs the agent under `node --cpu-prof` (its whole
 * life, the load phase being most of it) and leaves the `.cpuprofile` in DIR
 * (summarise it with bench/profile-summary.ts).
 */
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { removeDir, tempDir } from '../test/support/index.ts';
import {
  apiClient,
  benchPlacement,
  benchWorkload,
  buildCli,
  create,
  createToken,
  memoryOf,
  startAgent,
  startHub,
  waitRunning,
} from './agent-support.ts';
import { cpuSeconds, fmt, goalLine, machineLoad, report, table } from './support/index.ts';

const NS = 'bench-policies';
const DEVICE = 'bench-policies';
const CONDITIONS = 50;
const WORKLOADS = 10;
const RATE = 1000;
const GOAL_CPU_PERCENT = 5;
const GOAL_MB = 50;
const MB = 1024 * 1024;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);

function profiles() {
  return Array.from({ length: 5 }, (_, p) => ({
    name: `profile${p}`,
    conditions: Array.from({ length: CONDITIONS / 5 }, (_, c) => {
      const i = p * 10 + c;
      return {
        name: `c${i}`,
        expression: `m${i} < 50% || m${i} == nil`,
        hysteresis: 2,
        ...(i % 3 === 0 ? { for: '2s' } : {}),
      };
    }),
  }));
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** POSTs one metric per request at `rate` a second for `seconds`; returns how many were answered 204. */
async function postLoad(
  port: number,
  rate: number,
  seconds: number,
): Promise<{ sent: number; failed: number }> {
  const dispatcher = new Agent({ connections: 8, pipelining: 1 });
  const values = Array.from({ length: CONDITIONS }, () => 40 + Math.random() * 20);
  let sent = 0;
  let failed = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  const inFlight = new Set<Promise<void>>();
  let next = 0;
  while (performance.now() < end) {
    // Paced: as many as the rate allows by now.
    const due = Math.floor(((performance.now() - started) / 1000) * rate);
    while (sent < due && inFlight.size < 64) {
      const i = next++ % CONDITIONS;
      // The gated workloads' metrics (m40..m49) stay low: their conditions hold throughout.
      values[i] = i >= 40 ? 10 : Math.min(100, Math.max(0, values[i]! + (Math.random() - 0.5) * 2));
      const body = JSON.stringify({ value: Math.round(values[i]! * 10) / 10, name: `m${i}` });
      sent++;
      const call = request(`http://127.0.0.1:${port}/metrics`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json' },
        dispatcher,
      })
        .then(async (response) => {
          await response.body.dump();
          if (response.statusCode !== 204) failed++;
        })
        .catch(() => {
          failed++;
        })
        .finally(() => inFlight.delete(call));
      inFlight.add(call);
    }
    await sleep(2);
  }
  await Promise.all(inFlight);
  await dispatcher.close();
  return { sent, failed };
}

const bin = buildCli();
const hub = await startHub(bin);
const api = apiClient(hub.kubeconfig);
const dataDir = await tempDir('outpost-bench-policies-');
const port = await freePort();
try {
  const token = await createToken(bin, hub, 'site=policies');
  // Enrolled first, then started again as an enrolled device starts (as agent-memory's `as shipped`).
  const enrolling = await startAgent({
    bin,
    hub,
    name: DEVICE,
    dataDir,
    token,
    args: ['--metrics-port', 'off'],
  });
  await enrolling.stop();
  const agent = await startAgent({
    bin,
    hub,
    name: DEVICE,
    dataDir,
    args: ['--metrics-port', String(port), '--stop-workloads-on-exit'],
    ...(process.env.BENCH_AGENT_PROFILE
      ? { nodeFlags: ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_AGENT_PROFILE] }
      : {}),
  });
  try {
    const patched = await api.request('PATCH', `/apis/outpost.dev/v1alpha1/devices/${DEVICE}`, {
      body: { spec: { profiles: profiles() } },
      contentType: 'application/merge-patch+json',
    });
    if (patched.status !== 200) throw new Error(`patch Device: ${patched.status} ${patched.text}`);
    await create(api, { kind: 'Namespace', apiVersion: 'v1', metadata: { name: NS } } as never);
    for (let i = 0; i < WORKLOADS; i++) {
      const workload = benchWorkload(NS, `gated-${i}`, { command: ['sleep', '3600'] });
      // Gated on a condition over a metric nobody posts: nil, so it holds throughout.
      (workload.spec as Record<string, unknown>).profiles = [
        { name: 'profile4', conditions: [`c${49 - i}`] },
      ];
      await create(api, workload);
    }
    await create(api, benchPlacement(NS, 'policies'));
    await waitRunning(api, DEVICE, WORKLOADS);
    await sleep(3000);
    const pid = agent.process.pid!;
    let before = cpuSeconds(pid);
    let t0 = performance.now();
    await sleep(SECONDS * 1000);
    const idleCpu = ((cpuSeconds(pid) - before) / ((performance.now() - t0) / 1000)) * 100;
    const idleMemory = memoryOf(pid);
    const load = machineLoad();
    before = cpuSeconds(pid);
    t0 = performance.now();
    const posted = await postLoad(port, RATE, SECONDS);
    const elapsed = (performance.now() - t0) / 1000;
    const loadCpu = ((cpuSeconds(pid) - before) / elapsed) * 100;
    const memory = memoryOf(pid);
    const rate = posted.sent / elapsed;
    console.log(
      `\nagent with ${CONDITIONS} profile conditions and ${WORKLOADS} gated workloads (${machineLoad()}; before the load: ${load})`,
    );
    console.log(
      table(
        ['phase', 'POSTs/s', 'failed', 'agent CPU (% of a core)'],
        [
          ['idle, policies loaded', '0', '0', fmt(idleCpu, 2)],
          [`${RATE} POSTs/s`, fmt(rate, 0), String(posted.failed), fmt(loadCpu, 2)],
        ],
      ),
    );
    console.log(
      `agent memory with policies loaded, idle: RSS ${fmt(idleMemory.rss / MB, 1)} MB (anon ${fmt(idleMemory.anon / MB, 1)}, file ${fmt(idleMemory.file / MB, 1)})`,
    );
    console.log(
      `agent memory after the load: RSS ${fmt(memory.rss / MB, 1)} MB (anon ${fmt(memory.anon / MB, 1)}, file ${fmt(memory.file / MB, 1)}, peak ${fmt(memory.peak / MB, 1)})`,
    );
    const cpuMet = loadCpu < GOAL_CPU_PERCENT && posted.failed === 0 && rate >= RATE * 0.95;
    const memoryMet = idleMemory.rss < GOAL_MB * MB;
    console.log(
      goalLine(
        `agent CPU under ${GOAL_CPU_PERCENT} % of a core at ${RATE} POSTs/s against ${CONDITIONS} conditions`,
        cpuMet,
      ),
    );
    console.log(goalLine(`agent RSS with policies loaded (idle) under ${GOAL_MB} MB`, memoryMet));
    report('device-policies', {
      goalMet: cpuMet && memoryMet,
      idleCpuPercent: idleCpu,
      loadCpuPercent: loadCpu,
      postsPerSecond: rate,
      failed: posted.failed,
      idleRssBytes: idleMemory.rss,
      rssAfterLoadBytes: memory.rss,
    });
  } finally {
    await agent.stop();
  }
} finally {
  await api.close();
  await hub.stop();
  await removeDir(dataDir);
  await removeDir(hub.dataDir);
}
