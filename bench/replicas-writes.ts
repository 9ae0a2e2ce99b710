/**
 * Creates per second through the API of hub replicas sharing one PostgreSQL
 * database: through one replica (the "creates through the API on PostgreSQL"
 * figure, goal 1,500/s) and through three at once, against a bare `pg`
 * insert loop (one INSERT per autocommit transaction, same connection count
 * and concurrency, a row of the same size) on the same server in the same run.
 * Rounds alternate the three.
 *
 *   npm run bench -- replicas-writes       (BENCH_SECONDS=N per round, default 5)
 */
import pg from 'pg';
import { type ReplicaSet, startReplicaSet } from '../test/support/index.ts';
import {
  benchConfigMap,
  closedLoop,
  cpuMeter,
  credentialsOf,
  fmt,
  goalLine,
  type LoadResult,
  machineLoad,
  median,
  pool,
  report,
  roundMs,
  summarize,
  table,
} from './support/index.ts';

const IN_FLIGHT = 64;
const CONNECTIONS = 16;
const ROUNDS = 2;
const WARMUP_REQUESTS = 3000;
const GOAL_RATE = 1500;

interface Round {
  readonly rate: number;
  readonly latencies: number[];
  readonly failed: number;
  readonly firstFailure?: string;
  /** CPU seconds of the hubs and of PostgreSQL's backends are not separable here; the hubs' only. */
  readonly hubCpu: number;
  readonly seconds: number;
}

/** Creates through `replicas` (indexes into the set), IN_FLIGHT shared evenly, for `durationMs`. */
async function throughReplicas(
  set: ReplicaSet,
  replicas: number[],
  run: string,
  durationMs: number,
): Promise<Round> {
  const meters = set.hubs.map((hub) => cpuMeter(hub.process.pid!));
  const loads = await Promise.all(
    replicas.map(async (replica, slot) => {
      const credentials = credentialsOf(set.hubs[replica]!.kubeconfig);
      const dispatcher = pool(credentials, Math.ceil(CONNECTIONS / replicas.length));
      try {
        return await closedLoop({
          dispatcher,
          origin: credentials.origin,
          inFlight: Math.ceil(IN_FLIGHT / replicas.length),
          durationMs,
          request: (i) => ({
            method: 'POST',
            path: '/api/v1/namespaces/default/configmaps',
            body: JSON.stringify(benchConfigMap(`cm-${run}-${slot}-${i}`, i)),
          }),
          expectStatus: 201,
        });
      } finally {
        await dispatcher.close();
      }
    }),
  );
  const hubCpu = meters.reduce((sum, meter) => sum + meter.stop(), 0);
  return combine(loads, hubCpu);
}

function combine(loads: LoadResult[], hubCpu: number): Round {
  const seconds = Math.max(...loads.map((load) => load.elapsedMs)) / 1000;
  const ok = loads.reduce((sum, load) => sum + load.ok, 0);
  return {
    rate: ok / seconds,
    latencies: loads.flatMap((load) => load.latencies),
    failed: loads.reduce((sum, load) => sum + load.failed, 0),
    firstFailure: loads.find((load) => load.firstFailure)?.firstFailure,
    hubCpu,
    seconds,
  };
}

/** The baseline: IN_FLIGHT workers over CONNECTIONS connections, each INSERT its own transaction. */
async function bareInserts(url: string, run: string, durationMs: number): Promise<Round> {
  const client = new pg.Pool({ connectionString: url, max: CONNECTIONS });
  try {
    const row = JSON.stringify(benchConfigMap('cm-bare-0000000', 0));
    const latencies: number[] = [];
    let next = 0;
    const started = performance.now();
    const deadline = started + durationMs;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (performance.now() < deadline) {
          const i = next++;
          const sent = performance.now();
          await client.query('INSERT INTO bench_log (key, value) VALUES ($1, $2)', [
            `/core/configmaps/default/${run}-${i}`,
            row,
          ]);
          latencies.push(performance.now() - sent);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    return { rate: latencies.length / seconds, latencies, failed: 0, hubCpu: 0, seconds };
  } finally {
    await client.end();
  }
}

const set = await startReplicaSet({ replicas: 3 });
try {
  const bareUrl = await set.postgres.createDatabase('bare');
  const setup = new pg.Client({ connectionString: bareUrl });
  await setup.connect();
  // The shape of the store's log: a serial revision, the key, the JSON text.
  await setup.query(
    'CREATE TABLE bench_log (revision bigserial PRIMARY KEY, key text NOT NULL, value text NOT NULL)',
  );
  await setup.end();
  const durationMs = roundMs(5);
  console.log(
    `replicas-writes: POST ConfigMap over HTTPS keep-alive, ${IN_FLIGHT} in flight over ${CONNECTIONS} connections in all (undici),` +
      `\nthrough one hub replica, and through three at once (the same totals split evenly), all on one PostgreSQL 15 (fsync on);` +
      `\nbaseline: a bare pg INSERT loop (${IN_FLIGHT} workers, ${CONNECTIONS} connections, one autocommit INSERT each) on the same server;` +
      `\n${ROUNDS} alternating rounds of ${durationMs / 1000} s after a warm-up of ${WARMUP_REQUESTS} creates per replica; rates are medians`,
  );
  console.log(`${machineLoad()}\n`);
  // Warm every replica's JIT and connections; not counted.
  for (const replica of [0, 1, 2]) {
    const credentials = credentialsOf(set.hubs[replica]!.kubeconfig);
    const dispatcher = pool(credentials, CONNECTIONS);
    await closedLoop({
      dispatcher,
      origin: credentials.origin,
      inFlight: IN_FLIGHT,
      maxRequests: WARMUP_REQUESTS,
      durationMs: 30_000,
      request: (i) => ({
        method: 'POST',
        path: '/api/v1/namespaces/default/configmaps',
        body: JSON.stringify(benchConfigMap(`warm-${replica}-${i}`, i)),
      }),
      expectStatus: 201,
    });
    await dispatcher.close();
  }
  const rounds = { bare: [] as Round[], one: [] as Round[], three: [] as Round[] };
  for (let round = 0; round < ROUNDS; round++) {
    rounds.bare.push(await bareInserts(bareUrl, `r${round}`, durationMs));
    rounds.one.push(await throughReplicas(set, [0], `one${round}`, durationMs));
    rounds.three.push(await throughReplicas(set, [0, 1, 2], `three${round}`, durationMs));
  }
  const row = (name: string, list: Round[]) => {
    const rate = median(list.map((r) => r.rate));
    const latency = summarize(list.flatMap((r) => r.latencies));
    const failed = list.reduce((sum, r) => sum + r.failed, 0);
    const first = list.find((r) => r.firstFailure)?.firstFailure;
    if (first) console.log(`${name}: ${failed} failed, first: ${first}`);
    const hubCpu = list.reduce((sum, r) => sum + r.hubCpu, 0) / list.reduce((sum, r) => sum + r.seconds, 0);
    return {
      rate,
      latency,
      cells: [
        name,
        fmt(rate),
        fmt(latency.p50),
        fmt(latency.p99),
        fmt(latency.max),
        name === 'bare pg INSERT' ? '-' : fmt(hubCpu, 2),
        String(failed),
      ],
    };
  };
  const bare = row('bare pg INSERT', rounds.bare);
  const one = row('API, 1 replica', rounds.one);
  const three = row('API, 3 replicas', rounds.three);
  console.log(
    table(
      ['writer', 'writes/s', 'p50 ms', 'p99 ms', 'max ms', 'hub CPU (cores, all replicas)', 'failed'],
      [bare.cells, one.cells, three.cells],
    ),
  );
  console.log(
    `\n1 replica / bare: ${fmt(one.rate / bare.rate, 2)}; 3 replicas / 1 replica: ${fmt(three.rate / one.rate, 2)}` +
      `\n(every process — PostgreSQL, three hubs, this client — shares this machine's cores)`,
  );
  console.log(machineLoad());
  const met = one.rate >= GOAL_RATE;
  console.log(goalLine(`${fmt(GOAL_RATE)} creates/s through the API on PostgreSQL (one replica)`, met));
  report('replicas-writes', {
    goalMet: met,
    bare: { rate: bare.rate, ...bare.latency },
    one: { rate: one.rate, ...one.latency },
    three: { rate: three.rate, ...three.latency },
  });
} finally {
  await set.stop();
}
