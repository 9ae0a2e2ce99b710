/**
 * Writes per second through PostgresStore with many creates in flight, so
 * that group commit batches them, against a bare `pg` insert loop in the same
 * run on the same throw-away cluster (fsync on), with the same batching: one
 * transaction per N rows (N = writes in flight), the rows inserted by one
 * INSERT ... SELECT FROM unnest(...) into a table shaped like the store's log.
 * Rounds alternate store and baseline to spread the machine's noise.
 *
 *   npm run bench -- postgres-writes          (BENCH_SECONDS=N per round, default 1.5)
 */
import pg from 'pg';
import { PostgresStore } from '../src/store/index.ts';
import { startPostgres } from '../test/support/index.ts';
import {
  fmt,
  goalLine,
  machineLoad,
  median,
  report,
  roundMs,
  storedConfigMap,
  storedConfigMapKey,
  table,
} from './support/index.ts';

const CONCURRENCY = [1, 64, 256];
const ROUNDS = 5;
const ROUND_SECONDS = 1.5;
const GOAL_RATIO = 0.5;

interface Round {
  readonly writesPerSecond: number;
  readonly meanBatch: number;
}

let schemas = 0;

/** `concurrency` workers each awaiting one create at a time; group commit batches what is queued meanwhile. */
async function storeRound(url: string, concurrency: number, durationMs: number): Promise<Round> {
  const store = await PostgresStore.open({ url, schema: `bench_store_${++schemas}` });
  let next = 0;
  let batches = 0;
  let inBatch = false;
  // Writes acknowledged by one commit resume in the same turn of the event loop: count turns.
  const acknowledged = () => {
    if (inBatch) return;
    inBatch = true;
    batches++;
    setImmediate(() => {
      inBatch = false;
    });
  };
  const started = performance.now();
  const deadline = started + durationMs;
  const worker = async () => {
    while (performance.now() < deadline) {
      const i = next++;
      await store.create(storedConfigMapKey(i), (revision) => storedConfigMap(i, revision));
      acknowledged();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = performance.now() - started;
  await store.close();
  return { writesPerSecond: (next / elapsed) * 1000, meanBatch: next / batches };
}

/** Bare `pg`: one transaction and one multi-row INSERT per `batch` rows, into a log-shaped table. */
async function bareRound(url: string, batch: number, durationMs: number): Promise<Round> {
  const schema = `bench_bare_${++schemas}`;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA ${schema}`);
    await client.query(`SET search_path = ${schema}`);
    await client.query(`CREATE TABLE log (
      rev bigint PRIMARY KEY, key text COLLATE "C" NOT NULL, type smallint NOT NULL, prev_rev bigint, value text NOT NULL)`);
    await client.query(`CREATE INDEX log_key_rev ON log (key, rev)`);
    let written = 0;
    const started = performance.now();
    const deadline = started + durationMs;
    while (performance.now() < deadline) {
      const revs = Array.from({ length: batch }, (_, index) => written + index + 1);
      await client.query('BEGIN');
      await client.query(
        `INSERT INTO log (rev, key, type, prev_rev, value)
         SELECT r, k, 0, NULL, v FROM unnest($1::bigint[], $2::text[], $3::text[]) AS t(r, k, v)`,
        [revs, revs.map((rev) => storedConfigMapKey(rev)), revs.map((rev) => storedConfigMap(rev, rev))],
      );
      await client.query('COMMIT');
      written += batch;
    }
    const elapsed = performance.now() - started;
    await client.query(`DROP SCHEMA ${schema} CASCADE`);
    return { writesPerSecond: (written / elapsed) * 1000, meanBatch: batch };
  } finally {
    await client.end();
  }
}

const cluster = await startPostgres();
const durationMs = roundMs(ROUND_SECONDS);
const rows: string[][] = [];
const results: Record<string, unknown>[] = [];
let goalMet = true;
try {
  console.log(
    `postgres-writes: PostgresStore.create with N in flight vs bare pg, one transaction per N rows`,
  );
  console.log(
    `(PostgreSQL 15, fsync on, synchronous_commit on, ~480-byte values, ${ROUNDS} alternating rounds of ${durationMs / 1000} s;\n rates are medians, ratios are medians of per-round ratios)`,
  );
  console.log(`${machineLoad()}\n`);
  for (const concurrency of CONCURRENCY) {
    const store: Round[] = [];
    const bare: Round[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      bare.push(await bareRound(cluster.url, concurrency, durationMs));
      store.push(await storeRound(cluster.url, concurrency, durationMs));
    }
    const storeRate = median(store.map((r) => r.writesPerSecond));
    const bareRate = median(bare.map((r) => r.writesPerSecond));
    const ratio = median(store.map((r, i) => r.writesPerSecond / bare[i]!.writesPerSecond));
    if (concurrency > 1 && ratio < GOAL_RATIO) goalMet = false;
    rows.push([
      String(concurrency),
      fmt(median(store.map((r) => r.meanBatch)), 1),
      fmt(storeRate),
      fmt(bareRate),
      fmt(ratio, 2),
    ]);
    results.push({ concurrency, storeRate, bareRate, ratio });
  }
  console.log(
    table(['in flight (N)', 'store batch', 'store writes/s', 'bare pg INSERT/s', 'store / bare'], rows),
  );
  console.log(
    `\nbaseline: "bare pg" = BEGIN; one INSERT ... unnest of N rows into a log table (rev PK, key index); COMMIT,` +
      `\n          on one connection. The store also locks the revision row, reads the keys' heads, upserts` +
      `\n          the objects table, bumps the counter and NOTIFYs in each transaction.`,
  );
  console.log(machineLoad());
  console.log(goalLine(`store >= ${GOAL_RATIO} x bare pg INSERT with writes in flight (N > 1)`, goalMet));
  report('postgres-writes', { goalMet, results });
} finally {
  await cluster.stop();
}
