import Database from 'better-sqlite3';
import { SqliteStore, type WatchEvent } from '../../../src/store/index.ts';
import type { ObservedEvent } from './records.ts';

/**
 * Opens a stopped hub's database file as the hub would and checks that it is
 * whole: SQLite's integrity check passes, every value in the log parses and
 * carries its own revision, revisions rise strictly, the head is
 * `expectedHead`, and the ConfigMap events of `namespaces` after
 * `baseRevision` are exactly the reference sequence. Returns the violations.
 */
export async function checkStoreFile(options: {
  readonly path: string;
  readonly expectedHead: number;
  readonly baseRevision: number;
  readonly namespaces: readonly string[];
  readonly reference: readonly ObservedEvent[];
}): Promise<string[]> {
  const violations: string[] = [];
  const raw = new Database(options.path, { readonly: true });
  try {
    const integrity = raw.pragma('integrity_check', { simple: true });
    if (integrity !== 'ok') violations.push(`store file: integrity_check says ${String(integrity)}`);
  } finally {
    raw.close();
  }

  const store = new SqliteStore({ path: options.path });
  try {
    const head = await store.currentRevision();
    if (head !== options.expectedHead)
      violations.push(`store file: head is ${head}, expected ${options.expectedHead}`);
    const log: WatchEvent[] = [];
    const controller = new AbortController();
    // The backlog of a watch from revision 0 is the whole log, delivered before watch() returns.
    await store.watch({ prefix: '/', afterRevision: 0, signal: controller.signal }, (events) =>
      log.push(...events),
    );
    controller.abort();
    let last = 0;
    for (const event of log) {
      if (event.revision <= last) violations.push(`store log: revision ${event.revision} follows ${last}`);
      last = event.revision;
      // The hub's internal keys (the shared CA) are not API objects and carry no resourceVersion.
      if (event.key.startsWith('/outpost.internal/')) continue;
      try {
        const object = JSON.parse(event.value) as { metadata?: { resourceVersion?: unknown } };
        if (object.metadata?.resourceVersion !== String(event.revision)) {
          violations.push(
            `store log: ${event.key}@${event.revision} carries resourceVersion ${String(object.metadata?.resourceVersion)}`,
          );
        }
      } catch {
        violations.push(`store log: ${event.key}@${event.revision} does not parse`);
      }
    }
    if (last !== head) violations.push(`store log: ends at ${last}, head is ${head}`);
    const prefixes = options.namespaces.map((namespace) => `/core/configmaps/${namespace}/`);
    const ours = log
      .filter(
        (event) =>
          event.revision > options.baseRevision && prefixes.some((prefix) => event.key.startsWith(prefix)),
      )
      .map((event) => `${event.type} ${event.key.slice('/core/configmaps/'.length)}@${event.revision}`);
    const reference = options.reference
      .filter((event) => options.namespaces.includes(event.namespace))
      .map((event) => `${event.type} ${event.id}@${event.revision}`);
    const firstDifference = ours.findIndex((entry, index) => entry !== reference[index]);
    if (ours.length !== reference.length || firstDifference !== -1) {
      const at = firstDifference === -1 ? Math.min(ours.length, reference.length) : firstDifference;
      violations.push(
        `store log and reference watch differ at entry ${at}: ${ours[at] ?? 'end'} vs ${reference[at] ?? 'end'} (${ours.length} vs ${reference.length} entries)`,
      );
    }
    const { items } = await store.list({ prefix: '/' });
    for (const item of items) {
      // As in the log: the internal keys are encrypted at rest, not JSON.
      if (item.key.startsWith('/outpost.internal/')) continue;
      try {
        JSON.parse(item.value);
      } catch {
        violations.push(`store: current value of ${item.key} does not parse`);
      }
    }
  } finally {
    await store.close();
  }
  return violations;
}
