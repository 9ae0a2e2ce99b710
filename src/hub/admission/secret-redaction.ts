/**
 * Keeps secret data out of answers: error messages of writes to kinds that
 * hold it must not quote what the client sent.
 */
import type { KindDefinition } from '../../api/index.ts';

/** Kinds whose objects hold secret data: Secrets, and the kinds embedding Secret manifests. */
const SECRET_HOLDERS: ReadonlySet<string> = new Set([
  '/Secret',
  'outpost.dev/Workload',
  'outpost.dev/Mailbox',
]);

/** Whether objects of this kind may hold secret data (Secrets, Workloads, Mailboxes). */
export function holdsSecretData(def: Pick<KindDefinition, 'group' | 'kind'>): boolean {
  return SECRET_HOLDERS.has(`${def.group}/${def.kind}`);
}

/**
 * Replaces every double-quoted string in a message (as error messages render
 * the values they quote, JSON-encoded; also one cut short at the end) by
 * `"[redacted]"`. Unquoted parts (paths, operation numbers, reasons) stay.
 */
export function redactQuoted(message: string): string {
  return message.replace(/"(?:[^"\\]|\\.)*(?:"|$)/g, '"[redacted]"');
}
