/**
 * The conformance suite every {@link Store} engine must pass: the SQLite
 * store runs it in `sqlite.test.ts`, the PostgreSQL store will run the very
 * same tests. Test-only: it imports `node:test` and fast-check, so it is not
 * exported from the folder's `index.ts`.
 */
import { describe } from 'node:test';
import { describeCompaction } from './conformance-compaction.ts';
import { describeLists } from './conformance-lists.ts';
import { describeModel } from './conformance-model.ts';
import type { OpenedStore } from './conformance-support.ts';
import { describeWatch } from './conformance-watch.ts';
import { describeWrites } from './conformance-writes.ts';
import type { Store } from './store.ts';

export type { OpenedStore } from './conformance-support.ts';

/**
 * Defines the `node:test` suite `Store conformance: <name>`.
 *
 * `open` is called once per test and must give a fresh, empty store (no keys,
 * nothing compacted beyond its starting revision). `reopen`, when the engine
 * can, closes that store and opens it again on the same data, returning the
 * new instance; tests that need it are skipped without it. `cleanup` closes
 * whatever is still open and removes the data; it runs after every test, also
 * a failed one. The engine may deliver watch events asynchronously: the suite
 * waits for them (with a deadline) and never sleeps.
 */
export function describeStoreConformance(
  name: string,
  open: () => Promise<{ store: Store; reopen?: () => Promise<Store>; cleanup: () => Promise<void> }>,
): void {
  const opener: () => Promise<OpenedStore> = open;
  describe(`Store conformance: ${name}`, () => {
    describeWrites(opener);
    describeLists(opener);
    describeWatch(opener);
    describeCompaction(opener);
    describeModel(opener);
  });
}
