/**
 * Creates per second over HTTPS keep-alive against a hub process (ConfigMaps
 * in `default`, SQLite synchronous FULL), with latency percentiles and the
 * hub's CPU time; baseline: the bare `node:https` server (same certificates,
 * separate process) echoing the same bodies with 201, driven by the same
 * client. Rounds alternate baseline and hub.
 *
 *   npm run bench -- api-creates           (BENCH_SECONDS=N per round, default 5)
 */
import { join } from 'node:path';
import { removeDir, startHubProcess } from '../test/support/index.ts';
import {
  type BareServer,
  closedLoop,
  cpuMeter,
  credentialsOf,
  fmt,
  goalLine,
  hubArgs,
  hubEnv,
  type LoadResult,
  median,
  ownCpuSeconds,
  pool,
  report,
  roundMs,
  startBareServer,
  startProfiling,
  summarize,
  table,
} from './support/index.ts';

const IN_FLIGHT = 64;
const CONNECTIONS = 16;
const ROUNDS = 2;
const WARMUP_MS = 2000;
const GOAL_RATE = 5000;
const GOAL_P99_MS = 50;

/** A small ConfigMap as `kubectl create configmap` sends it (about 200 bytes). */
function configMap(run: string, i: number): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: `cm-${run}-${i}`, namespace: 'default', labels: { app: 'bench' } },
    data: { index: String(i), payload: 'x'.repeat(64) },
  });
}

interface Measured {
  readonly load: LoadResult;
  readonly serverCpu: number;
  readonly clientCpu: number;
}

async function measure(
  origin: string,
  pid: number,
  run: string,
  durationMs: number,
  dispatcher: ReturnType<typeof pool>,
  afterWarmup = () => {},
): Promise<Measured> {
  const path = '/api/v1/namespaces/default/configmaps';
  const request = (i: number) => ({ method: 'POST' as const, path, body: configMap(run, i) });
  // Warm the JIT and the connections; not counted.
  await closedLoop({
    dispatcher,
    origin,
    inFlight: IN_FLIGHT,
    durationMs: WARMUP_MS,
    request: (i) => request(1e9 + i),
    expectStatus: 201,
  });
  afterWarmup();
  const server = cpuMeter(pid);
  const client = ownCpuSeconds();
  const load = await closedLoop({
    dispatcher,
    origin,
    inFlight: IN_FLIGHT,
    durationMs,
    request,
    expectStatus: 201,
  });
  return { load, serverCpu: server.stop(), clientCpu: ownCpuSeconds() - client };
}

const hub = await startHubProcess({ args: hubArgs(), env: hubEnv() });
let bare: BareServer | undefined;
try {
  const credentials = credentialsOf(hub.kubeconfig);
  bare = await startBareServer(join(hub.dataDir, 'pki'));
  const durationMs = roundMs(5);
  console.log(
    `api-creates: POST ConfigMap over HTTPS keep-alive, ${IN_FLIGHT} in flight over ${CONNECTIONS} connections (undici)`,
  );
  console.log(
    `hub: outpost hub process, SQLite synchronous=FULL; baseline: bare node:https process echoing the body with 201`,
  );
  console.log(
    `(${ROUNDS} alternating rounds of ${durationMs / 1000} s after ${WARMUP_MS / 1000} s warm-up each; medians)\n`,
  );
  const hubRounds: Measured[] = [];
  const bareRounds: Measured[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const bareClient = pool(credentials, CONNECTIONS);
    bareRounds.push(await measure(bare.origin, bare.process.pid!, `bare${round}`, durationMs, bareClient));
    await bareClient.close();
    const hubClient = pool(credentials, CONNECTIONS);
    hubRounds.push(
      await measure(credentials.origin, hub.process.pid!, `hub${round}`, durationMs, hubClient, () =>
        startProfiling(hub),
      ),
    );
    await hubClient.close();
  }
  const row = (name: string, rounds: Measured[]) => {
    const rates = rounds.map((r) => (r.load.ok / r.load.elapsedMs) * 1000);
    const latency = summarize(rounds.flatMap((r) => r.load.latencies));
    const seconds = rounds.reduce((sum, r) => sum + r.load.elapsedMs, 0) / 1000;
    const serverCpu = rounds.reduce((sum, r) => sum + r.serverCpu, 0);
    const clientCpu = rounds.reduce((sum, r) => sum + r.clientCpu, 0);
    const ok = rounds.reduce((sum, r) => sum + r.load.ok, 0);
    const failed = rounds.reduce((sum, r) => sum + r.load.failed, 0);
    const first = rounds.find((r) => r.load.firstFailure)?.load.firstFailure;
    if (first) console.log(`${name}: ${failed} failed requests, first: ${first}`);
    return {
      rate: median(rates),
      latency,
      cells: [
        name,
        fmt(median(rates)),
        fmt(latency.p50),
        fmt(latency.p99),
        fmt(latency.max),
        fmt(serverCpu / seconds, 2),
        fmt((serverCpu / ok) * 1e6),
        fmt(clientCpu / seconds, 2),
        String(failed),
      ],
    };
  };
  const hubRow = row('hub', hubRounds);
  const bareRow = row('bare https', bareRounds);
  console.log(
    table(
      [
        'server',
        'creates/s',
        'p50 ms',
        'p99 ms',
        'max ms',
        'server CPU (cores)',
        'server CPU µs/req',
        'client CPU (cores)',
        'failed',
      ],
      [hubRow.cells, bareRow.cells],
    ),
  );
  const ratio = hubRow.rate / bareRow.rate;
  console.log(`\nhub / bare: ${fmt(ratio, 2)}   (server CPU from /proc/PID/stat, user+system, all threads)`);
  const met = hubRow.rate >= GOAL_RATE && hubRow.latency.p99 < GOAL_P99_MS;
  console.log(goalLine(`${fmt(GOAL_RATE)} creates/s with p99 < ${GOAL_P99_MS} ms`, met));
  report('api-creates', {
    goalMet: met,
    hub: { rate: hubRow.rate, ...hubRow.latency },
    bare: { rate: bareRow.rate, ...bareRow.latency },
    ratio,
  });
} finally {
  await bare?.stop();
  await hub.stop();
  await removeDir(hub.dataDir);
}
