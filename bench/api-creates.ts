/**
 * Creates per second over HTTPS keep-alive against a hub process (ConfigMaps
 * in `default`, SQLite synchronous FULL), with latency percentiles and the
 * hub's CPU time; baseline: the bare `node:https` server (same certificates,
 * separate process) echoing the same bodies with 201, driven by the same
 * client. A second reference, the same echo through Fastify set up as the
 * hub sets it up, tells the framework's share from the hub's own work.
 * Rounds alternate the three servers.
 *
 *   npm run bench -- api-creates           (BENCH_SECONDS=N per round, default 5)
 */
import { join } from 'node:path';
import { removeDir, startHubProcess } from '../test/support/index.ts';
import {
  type BareServer,
  benchConfigMap,
  closedLoop,
  cpuMeter,
  credentialsOf,
  fmt,
  goalLine,
  hubArgs,
  hubEnv,
  type LoadResult,
  machineLoad,
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
/**
 * Warm-up before each round, not counted: V8 needs a few thousand requests
 * before the hub's code is optimised, which a slow (contended) machine does
 * not reach in a fixed time. The first round warms longer.
 */
const WARMUP = { first: { requests: 4000, maxMs: 20_000 }, later: { requests: 500, maxMs: 5000 } };
const GOAL_RATE = 5000;
const GOAL_P99_MS = 50;

/** The body of the `i`-th create: a small ConfigMap (about 170 bytes of JSON). */
function configMap(run: string, i: number): string {
  return JSON.stringify(benchConfigMap(`cm-${run}-${i}`, i));
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
  warmup: { requests: number; maxMs: number },
  afterWarmup = () => {},
): Promise<Measured> {
  const path = '/api/v1/namespaces/default/configmaps';
  const request = (i: number) => ({ method: 'POST' as const, path, body: configMap(run, i) });
  // Warm the JIT and the connections; not counted.
  await closedLoop({
    dispatcher,
    origin,
    inFlight: IN_FLIGHT,
    durationMs: warmup.maxMs,
    maxRequests: warmup.requests,
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
let echo: BareServer | undefined;
try {
  const credentials = credentialsOf(hub.kubeconfig);
  bare = await startBareServer(join(hub.dataDir, 'pki'));
  echo = await startBareServer(join(hub.dataDir, 'pki'), { fastify: true });
  const durationMs = roundMs(5);
  console.log(
    `api-creates: POST ConfigMap over HTTPS keep-alive, ${IN_FLIGHT} in flight over ${CONNECTIONS} connections (undici)`,
  );
  console.log(
    `hub: outpost hub process, SQLite synchronous=FULL; baseline: bare node:https process echoing the body with 201;` +
      `\nreference: the same echo through Fastify configured as the hub (its own process)`,
  );
  console.log(
    `(undici queues the ${IN_FLIGHT} on ${CONNECTIONS} connections without pipelining: the server has up to ${CONNECTIONS} at once;` +
      `\n latency is as the client sees it, queueing included; ${ROUNDS} alternating rounds of ${durationMs / 1000} s` +
      ` after a warm-up of ${WARMUP.first.requests} requests (${WARMUP.later.requests} in later rounds); rates are medians)`,
  );
  console.log(`${machineLoad()}\n`);
  const hubRounds: Measured[] = [];
  const bareRounds: Measured[] = [];
  const echoRounds: Measured[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const warmup = round === 0 ? WARMUP.first : WARMUP.later;
    const bareClient = pool(credentials, CONNECTIONS);
    bareRounds.push(
      await measure(bare.origin, bare.process.pid!, `bare${round}`, durationMs, bareClient, warmup),
    );
    await bareClient.close();
    const echoClient = pool(credentials, CONNECTIONS);
    echoRounds.push(
      await measure(echo.origin, echo.process.pid!, `echo${round}`, durationMs, echoClient, warmup),
    );
    await echoClient.close();
    const hubClient = pool(credentials, CONNECTIONS);
    hubRounds.push(
      await measure(credentials.origin, hub.process.pid!, `hub${round}`, durationMs, hubClient, warmup, () =>
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
        fmt(ok / serverCpu),
        fmt(clientCpu / seconds, 2),
        String(failed),
      ],
    };
  };
  const hubRow = row('hub', hubRounds);
  const bareRow = row('bare https', bareRounds);
  const echoRow = row('fastify echo', echoRounds);
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
        'req/s per server core',
        'client CPU (cores)',
        'failed',
      ],
      [hubRow.cells, echoRow.cells, bareRow.cells],
    ),
  );
  const ratio = hubRow.rate / bareRow.rate;
  const hubCpuPerReq =
    hubRounds.reduce((sum, r) => sum + r.serverCpu, 0) / hubRounds.reduce((sum, r) => sum + r.load.ok, 0);
  console.log(
    `\nhub / bare: ${fmt(ratio, 2)} of the rate; server CPU from /proc/PID/stat (user+system, all threads);` +
      `\n"req/s per server core" = requests per CPU-second the server spent, the rate it could reach with a whole core` +
      ` (the hub is one event loop: ${fmt(1 / hubCpuPerReq)} creates/s at most on this machine's cores)`,
  );
  console.log(machineLoad());
  const met = hubRow.rate >= GOAL_RATE && hubRow.latency.p99 < GOAL_P99_MS;
  console.log(goalLine(`${fmt(GOAL_RATE)} creates/s with p99 < ${GOAL_P99_MS} ms`, met));
  report('api-creates', {
    goalMet: met,
    hub: { rate: hubRow.rate, ...hubRow.latency },
    bare: { rate: bareRow.rate, ...bareRow.latency },
    fastifyEcho: { rate: echoRow.rate, ...echoRow.latency },
    ratio,
    hubCpuMicrosPerCreate: hubCpuPerReq * 1e6,
  });
} finally {
  await bare?.stop();
  await echo?.stop();
  await hub.stop();
  await removeDir(hub.dataDir);
}
