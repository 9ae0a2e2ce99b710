import { existsSync } from 'node:fs';
import {
  PostgresStore,
  SqliteStore,
  type Store,
  type StoredObject,
  TargetNotEmptyError,
} from '../store/index.ts';
import { CliError } from './errors.ts';

/** Objects per page read from the source (and per INSERT into the target). */
const PAGE = 1_000;

/**
 * `outpost store migrate --from sqlite:PATH --to postgres://...`: copies a
 * whole hub's state (every object, with its resourceVersion; certificates,
 * tokens and everything else the hub keeps in its store) from SQLite to
 * PostgreSQL. Stop the hub first. Values are copied as stored: encrypted
 * ones stay encrypted, so start the PostgreSQL hub with the same
 * encryption key (the same data dir, or `--encryption-key-file`).
 *
 * Prints progress and the outcome through `say`.
 */
export async function migrateStore(
  options: { from: string; to: string; merge?: boolean },
  say: (line: string) => void,
): Promise<void> {
  if (!options.from.startsWith('sqlite:'))
    throw new CliError(`--from must be sqlite:PATH, not ${JSON.stringify(options.from)}`);
  if (!/^postgres(ql)?:\/\//.test(options.to))
    throw new CliError(`--to must be postgres://USER@HOST:PORT/DB, not ${JSON.stringify(options.to)}`);
  const path = options.from.slice('sqlite:'.length);
  // Opening a missing file would create an empty store and "migrate" nothing.
  if (!existsSync(path)) throw new CliError(`no SQLite store at ${path}`);
  const source = new SqliteStore({ path });
  try {
    const target = await PostgresStore.open({ url: options.to });
    try {
      const revision = await source.currentRevision();
      const total = await source.count('');
      const result = await target.importObjects(pages(source, revision), {
        revision,
        merge: options.merge,
        onProgress: (examined) => say(`migrated ${examined}/${total} objects`),
      });
      say(`done: ${result.copied} objects copied, revision ${result.revision}`);
      if (result.existing.length > 0)
        say(
          `kept the target's value of ${result.existing.length} keys it already had: ${sample(result.existing)}`,
        );
      if (result.revisionTaken.length > 0)
        say(
          `skipped ${result.revisionTaken.length} objects whose resourceVersion the target already used: ${sample(result.revisionTaken)}`,
        );
    } finally {
      await target.close();
    }
  } catch (error) {
    if (error instanceof TargetNotEmptyError) throw new CliError(error.message);
    throw error;
  } finally {
    await source.close();
  }
}

/** Every current object of `store` at `revision`, a page at a time, in key order. */
async function* pages(store: Store, revision: number): AsyncGenerator<StoredObject[]> {
  let afterKey: string | undefined;
  for (;;) {
    const page = await store.list({ prefix: '', limit: PAGE, afterKey, revision });
    yield page.items;
    if (page.continueAfter === undefined) return;
    afterKey = page.continueAfter;
  }
}

function sample(keys: readonly string[]): string {
  return keys.length > 5 ? `${keys.slice(0, 5).join(', ')}, ...` : keys.join(', ');
}
