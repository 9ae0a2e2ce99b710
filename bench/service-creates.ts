/**
 * CPU per create through ObjectService in-process (no HTTP): the api-creates
 * ConfigMap, SQLite synchronous=FULL, 64 creates in flight (group commit
 * batches them), a warm-up round then three rounds of 20,000; prints the
 * median process CPU per create (every thread, the SQLite writer thread's too) and the event
 * loop's busy time per create (`eventLoopUtilization`: the main thread's time not waiting
 * for I/O, a synchronous commit's fsync included) and the main thread's own CPU per create
 * (Linux's schedstat of the main thread: what the event loop spends). On a busy machine the hub's HTTP benchmark
 * gets too little CPU to warm up, while CPU per create in one process still
 * compares: alternate it between two checkouts. `STORE=postgres` runs the same creates on a
 * PostgresStore in a throw-away cluster (fsync on) instead: the figures are then the hub's side
 * of the PostgreSQL path (the server's backends are other processes).
 *
 *   node --import tsx bench/service-creates.ts
 *   ROOT=/path/to/other/checkout node --import tsx bench/service-creates.ts
 *   STORE=postgres node --import tsx bench/service-creates.ts
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { removeDir, startPostgres, tempDir } from '../test/support/index.ts';

const root = process.env.ROOT ?? fileURLToPath(new URL('..', import.meta.url));
const { SqliteStore, PostgresStore } = (await import(
  `${root}/src/store/index.ts`
)) as typeof import('../src/store/index.ts');
const { ObjectService } = (await import(
  `${root}/src/hub/kube-api/index.ts`
)) as typeof import('../src/hub/kube-api/index.ts');
const { KindRegistry, ALL_KINDS } = (await import(
  `${root}/src/api/index.ts`
)) as typeof import('../src/api/index.ts');

const ROUND = 20_000;

/** Nanoseconds the main thread (whose id is the process id) has run on a CPU; Linux only. */
function mainThreadCpuNs(): number {
  return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]);
}
const IN_FLIGHT = 64;

const onPostgres = process.env.STORE === 'postgres';
const dir = await tempDir('outpost-bench-service-creates-');
const cluster = onPostgres ? await startPostgres() : undefined;
const store = cluster
  ? await PostgresStore.open({ url: cluster.url })
  : new SqliteStore({ path: `${dir}/hub.db`, synchronous: 'FULL' });
try {
  const service = new ObjectService({ store, registry: new KindRegistry(ALL_KINDS) });
  const namespaceKind = service.registry.byKind('v1', 'Namespace')!;
  const configMapKind = service.registry.byKind('v1', 'ConfigMap')!;
  await service.create(
    namespaceKind,
    undefined,
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } },
    { fieldManager: 'bench' },
  );
  let next = 0;
  /**
   * CPU µs and event-loop busy µs per create over `count` creates, IN_FLIGHT at a time, each body
   * freshly parsed as a request's is.
   */
  const round = async (count: number): Promise<{ cpu: number; main: number; loop: number }> => {
    const before = process.cpuUsage();
    const mainBefore = mainThreadCpuNs();
    const loopBefore = performance.eventLoopUtilization();
    for (let done = 0; done < count; done += IN_FLIGHT) {
      const creates: Promise<unknown>[] = [];
      for (let i = 0; i < IN_FLIGHT; i++) {
        const n = next++;
        const body = JSON.parse(
          `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm-${n}","labels":{"bench":"api-creates"}},"data":{"key":"value-${n}","other":"some more text to make it realistic"}}`,
        );
        creates.push(
          service.create(configMapKind, 'default', body, { fieldManager: 'bench', borrowBody: true }),
        );
      }
      await Promise.all(creates);
    }
    const used = process.cpuUsage(before);
    const loop = performance.eventLoopUtilization(loopBefore);
    const main = (mainThreadCpuNs() - mainBefore) / 1000 / count;
    return { cpu: (used.user + used.system) / count, main, loop: (loop.active * 1000) / count };
  };
  await round(ROUND);
  const rounds = [await round(ROUND), await round(ROUND), await round(ROUND)];
  const median = (values: number[]) => values.sort((a, b) => a - b)[1]!;
  const show = (values: number[]) =>
    `${median(values).toFixed(1)} [${values.map((v) => v.toFixed(1)).join(', ')}]`;
  console.log(
    `service-creates (${root}, ${onPostgres ? 'PostgreSQL' : 'SQLite'}): median of 3 rounds of ${ROUND}: CPU µs per create ${show(rounds.map((r) => r.cpu))}; main thread CPU µs per create ${show(rounds.map((r) => r.main))}; event loop busy µs per create ${show(rounds.map((r) => r.loop))}`,
  );
} finally {
  await store.close();
  await cluster?.stop();
  await removeDir(dir);
}
