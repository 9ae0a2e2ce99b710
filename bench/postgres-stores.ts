/**
 * PostgresStore writes through one store and through three stores on one
 * database (three hub replicas' stores, in one process here, so that no HTTP
 * and no hub start-up is in the figure), with writers that do not arrive in
 * lock step: each of 64 workers awaits its create, then waits a random 0-2 ms
 * before the next, as requests over HTTP do. Prints writes/s, the mean batch
 * and this process's CPU µs per write (PostgreSQL's backends are other
 * processes). On a busy machine the hub benchmarks (`replicas-writes`) may not
 * even start their hubs; this one compares two checkouts in-process:
 *
 *   node --import tsx bench/postgres-stores.ts
 *   ROOT=/path/to/other/checkout node --import tsx bench/postgres-stores.ts
 *
 * BENCH_SECONDS=N per round (default 5).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Store } from '../src/store/index.ts';
import { startPostgres } from '../test/support/index.ts';
import { fmt, machineLoad, roundMs, storedConfigMap, storedConfigMapKey, table } from './support/index.ts';

const root = process.env.ROOT ?? fileURLToPath(new URL('..', import.meta.url));
const { PostgresStore } = (await import(
  `${root}/src/store/index.ts`
)) as typeof import('../src/store/index.ts');

const WORKERS = 64;
const ROUNDS = 2;

interface Round {
  readonly writesPerSecond: number;
  readonly meanBatch: number;
  readonly cpuMicrosPerWrite: number;
}

let databases = 0;

/** `WORKERS` writers spread over `stores` stores on one fresh database, for `durationMs`. */
async function round(
  cluster: Awaited<ReturnType<typeof startPostgres>>,
  stores: number,
  durationMs: number,
): Promise<Round> {
  const url = await cluster.createDatabase(`bench_stores_${++databases}`);
  let commits = 0;
  const opened: Store[] = [];
  for (let i = 0; i < stores; i++) {
    opened.push(await PostgresStore.open({ url, onCommit: () => commits++ }));
  }
  let next = 0;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const deadline = started + durationMs;
  const worker = async (index: number) => {
    const store = opened[index % stores]!;
    while (performance.now() < deadline) {
      const i = next++;
      await store.create(storedConfigMapKey(i), (revision) => storedConfigMap(i, revision));
      await sleep(Math.random() * 2);
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, (_, index) => worker(index)));
  const elapsed = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  for (const store of opened) await store.close();
  return {
    writesPerSecond: (next / elapsed) * 1000,
    meanBatch: next / Math.max(1, commits),
    cpuMicrosPerWrite: (cpu.user + cpu.system) / next,
  };
}

const cluster = await startPostgres();
try {
  console.log(
    `postgres-stores (${root}): ${WORKERS} writers with 0-2 ms between writes, through 1 store and through 3 on one database`,
  );
  console.log(`${machineLoad()}\n`);
  const rows: string[][] = [];
  const durationMs = roundMs(5);
  for (let r = 0; r < ROUNDS; r++) {
    for (const stores of [1, 3]) {
      const result = await round(cluster, stores, durationMs);
      rows.push([
        String(r + 1),
        String(stores),
        fmt(result.writesPerSecond),
        fmt(result.meanBatch, 1),
        fmt(result.cpuMicrosPerWrite, 1),
      ]);
    }
  }
  console.log(table(['round', 'stores', 'writes/s', 'mean batch', 'CPU µs per write'], rows));
  console.log(`\n${machineLoad()}`);
} finally {
  await cluster.stop();
}
