/**
 * Writes per second through SqliteStore (synchronous FULL, WAL) with many
 * creates in flight, so that group commit batches them, against bare
 * better-sqlite3 insert loops in the same run with the same durability and
 * the same batch size (one transaction per batch of N inserts, N = writes in
 * flight), and against the same store committing in the event loop instead of on its writer
 * thread. Rounds alternate store and baselines to spread the machine's noise.
 *
 *   npm run bench -- store-writes          (BENCH_SECONDS=N per round, default 3)
 */
import Database from 'better-sqlite3';
import { SqliteStore } from '../src/store/index.ts';
import { removeDir, tempDir } from '../test/support/index.ts';
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
const GOAL_RATIO = 0.5;

interface Round {
  readonly writesPerSecond: number;
  readonly meanBatch: number;
}

/** Disk latency here swings by 10x within seconds (other tenants), so rounds are short, alternate, and ratios are paired per round. */
const ROUND_SECONDS = 1.5;

/** `concurrency` workers each awaiting one create at a time; group commit batches what is queued in one tick. */
async function storeRound(
  dir: string,
  concurrency: number,
  durationMs: number,
  writerThread: boolean,
): Promise<Round> {
  const store = new SqliteStore({
    path: `${dir}/store-${concurrency}-${Date.now()}.db`,
    synchronous: 'FULL',
    writerThread,
  });
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

/**
 * Bare better-sqlite3, one transaction (one fsync) per `batch` rows.
 * 'insert': one INSERT per write into a log-like table with a key index.
 * 'same-sql': the statements SqliteStore runs per write (read the key's head,
 * insert the log row, upsert the head row) and per batch (the meta revision).
 */
function bareRound(dir: string, batch: number, durationMs: number, mode: 'insert' | 'same-sql'): Round {
  const db = new Database(`${dir}/bare-${mode}-${batch}-${Date.now()}.db`);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec(
    `CREATE TABLE log (rev INTEGER PRIMARY KEY, key TEXT NOT NULL, type INTEGER NOT NULL, prev_rev INTEGER, value TEXT NOT NULL)`,
  );
  db.exec(`CREATE INDEX log_key_rev ON log (key, rev)`);
  db.exec(`CREATE TABLE objects (key TEXT PRIMARY KEY, rev INTEGER NOT NULL) WITHOUT ROWID`);
  db.exec(`CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID`);
  db.exec(`INSERT INTO meta VALUES ('revision', 0)`);
  const insertLog = db.prepare(`INSERT INTO log (rev, key, type, prev_rev, value) VALUES (?, ?, 0, NULL, ?)`);
  const get = db.prepare(`SELECT l.rev, l.value FROM objects o JOIN log l ON l.rev = o.rev WHERE o.key = ?`);
  const upsert = db.prepare(
    `INSERT INTO objects (key, rev) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET rev = excluded.rev`,
  );
  const setMeta = db.prepare(`UPDATE meta SET value = ? WHERE name = 'revision'`);
  let revision = 0;
  const commit = db.transaction((first: number) => {
    for (let i = first; i < first + batch; i++) {
      const rev = ++revision;
      if (mode === 'same-sql') get.get(storedConfigMapKey(i));
      insertLog.run(rev, storedConfigMapKey(i), storedConfigMap(i, rev));
      if (mode === 'same-sql') upsert.run(storedConfigMapKey(i), rev);
    }
    if (mode === 'same-sql') setMeta.run(revision);
  });
  const started = performance.now();
  const deadline = started + durationMs;
  let written = 0;
  while (performance.now() < deadline) {
    commit(written);
    written += batch;
  }
  const elapsed = performance.now() - started;
  db.close();
  return { writesPerSecond: (written / elapsed) * 1000, meanBatch: batch };
}

const dir = await tempDir('outpost-bench-store-');
const durationMs = roundMs(ROUND_SECONDS);
const rows: string[][] = [];
const results: Record<string, unknown>[] = [];
let goalMet = true;
try {
  console.log(
    `store-writes: SqliteStore.create with N in flight vs bare better-sqlite3, one transaction per N rows`,
  );
  console.log(
    `(WAL, synchronous=FULL, ~480-byte values, ${ROUNDS} alternating rounds of ${durationMs / 1000} s;\n rates are medians, ratios are medians of per-round ratios)`,
  );
  console.log(`${machineLoad()}\n`);
  for (const concurrency of CONCURRENCY) {
    const store: Round[] = [];
    const inline: Round[] = [];
    const insert: Round[] = [];
    const sameSql: Round[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      insert.push(bareRound(dir, concurrency, durationMs, 'insert'));
      store.push(await storeRound(dir, concurrency, durationMs, true));
      inline.push(await storeRound(dir, concurrency, durationMs, false));
      sameSql.push(bareRound(dir, concurrency, durationMs, 'same-sql'));
    }
    const storeRate = median(store.map((r) => r.writesPerSecond));
    const insertRate = median(insert.map((r) => r.writesPerSecond));
    const sameSqlRate = median(sameSql.map((r) => r.writesPerSecond));
    // Each round's store figure against the baselines measured right beside it.
    const ratio = median(store.map((r, i) => r.writesPerSecond / insert[i]!.writesPerSecond));
    const sameSqlRatio = median(store.map((r, i) => r.writesPerSecond / sameSql[i]!.writesPerSecond));
    const inlineRatio = median(store.map((r, i) => r.writesPerSecond / inline[i]!.writesPerSecond));
    if (concurrency > 1 && ratio < GOAL_RATIO) goalMet = false;
    rows.push([
      String(concurrency),
      fmt(median(store.map((r) => r.meanBatch)), 1),
      fmt(storeRate),
      fmt(insertRate),
      fmt(sameSqlRate),
      fmt(ratio, 2),
      fmt(sameSqlRatio, 2),
      fmt(median(inline.map((r) => r.writesPerSecond))),
      fmt(inlineRatio, 2),
    ]);
    results.push({ concurrency, storeRate, insertRate, sameSqlRate, ratio, inlineRatio });
  }
  console.log(
    table(
      [
        'in flight (N)',
        'store batch',
        'store writes/s',
        'bare INSERT/s',
        'bare same-SQL/s',
        'store / INSERT',
        'store / same-SQL',
        'inline commit writes/s',
        'store / inline',
      ],
      rows,
    ),
  );
  console.log(
    `\nbaselines: "bare INSERT" = one INSERT per row into a log table (rev PK, key index), one transaction per N rows;` +
      `\n           "bare same-SQL" = the store's per-write SQL (head read, log insert, head upsert, meta update), one transaction per N rows;` +
      `\n           "inline commit" = the same store committing on its own connection in the event loop (writerThread: false).`,
  );
  console.log(machineLoad());
  console.log(goalLine(`store >= ${GOAL_RATIO} x bare INSERT with writes in flight (N > 1)`, goalMet));
  report('store-writes', { goalMet, results });
} finally {
  await removeDir(dir);
}
