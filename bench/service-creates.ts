/**
 * CPU per create through ObjectService in-process (no HTTP): the api-creates
 * ConfigMap, SQLite synchronous=FULL, 64 creates in flight (group commit
 * batches them), a warm-up round then three rounds of 20,000; prints the
 * median process CPU per create. On a busy machine the hub's HTTP benchmark
 * gets too little CPU to warm up, while CPU per create in one process still
 * compares: alternate it between two checkouts.
 *
 *   node --import tsx bench/service-creates.ts
 *   ROOT=/path/to/other/checkout node --import tsx bench/service-creates.ts
 */
import { fileURLToPath } from 'node:url';
import { removeDir, tempDir } from '../test/support/index.ts';

const root = process.env.ROOT ?? fileURLToPath(new URL('..', import.meta.url));
const { SqliteStore } = (await import(
  `${root}/src/store/index.ts`
)) as typeof import('../src/store/index.ts');
const { ObjectService } = (await import(
  `${root}/src/hub/kube-api/index.ts`
)) as typeof import('../src/hub/kube-api/index.ts');
const { KindRegistry, ALL_KINDS } = (await import(
  `${root}/src/api/index.ts`
)) as typeof import('../src/api/index.ts');

const ROUND = 20_000;
const IN_FLIGHT = 64;

const dir = await tempDir('outpost-bench-service-creates-');
const store = new SqliteStore({ path: `${dir}/hub.db`, synchronous: 'FULL' });
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
  /** CPU µs per create over `count` creates, IN_FLIGHT at a time, each body freshly parsed as a request's is. */
  const round = async (count: number): Promise<number> => {
    const before = process.cpuUsage();
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
    return (used.user + used.system) / count;
  };
  await round(ROUND);
  const rounds = [await round(ROUND), await round(ROUND), await round(ROUND)].sort((a, b) => a - b);
  console.log(
    `service-creates (${root}): CPU µs per create, median of 3 rounds of ${ROUND}: ${rounds[1]!.toFixed(1)} [${rounds.map((r) => r.toFixed(1)).join(', ')}]`,
  );
} finally {
  await store.close();
  await removeDir(dir);
}
