/**
 * Events about the agents' resource guard, from what they report: an object
 * whose Mailbox status turns to `InsufficientMemory` or `InsufficientDisk`
 * (the device refused to start it: its requests would cut into the device's
 * reserves), `Evicted` (stopped under memory or disk pressure) or
 * `OOMKilled` (killed by its own memory limit) is a Warning Event on the
 * Workload it comes from, naming the device and the object, with the
 * agent's message. Once per change, when the report arrives (as
 * profile-events.ts does for Devices).
 */
import type { KubeObject, Mailbox, ObjectStatus } from '../../api/index.ts';
import type { Manager } from '../../controller/index.ts';
import type { EventSink } from '../events/index.ts';
import { kindOf } from './support.ts';

/** The reasons told as Events, with the action each stands for. */
export const GUARD_REASONS: Readonly<Record<string, string>> = {
  InsufficientMemory: 'Admit',
  InsufficientDisk: 'Admit',
  Evicted: 'Evict',
  OOMKilled: 'Kill',
};

/** Adds the handler to the manager's Mailbox informer (changes seen while running; a resync is none). */
export function addGuardEvents(manager: Manager, events: EventSink): void {
  const mailboxes = manager.informer(kindOf(manager.client, 'Mailbox'));
  mailboxes.addEventHandler({
    onUpdate(old, mailbox) {
      if (old === mailbox || mailbox.metadata.deletionTimestamp) return;
      const before = new Map(objectsOf(old).map((status) => [identity(status.ref), status]));
      const spec = mailbox.spec as Mailbox['spec'];
      for (const status of objectsOf(mailbox)) {
        const reason = status.reason;
        if (reason === undefined || !(reason in GUARD_REASONS)) continue;
        const was = before.get(identity(status.ref));
        if (was?.reason === reason && was.observedHash === status.observedHash) continue;
        const source = spec?.objects?.find(
          (entry) =>
            entry.object.kind === status.ref.kind &&
            entry.object.metadata.name === status.ref.name &&
            (entry.object.metadata.namespace ?? '') === (status.ref.namespace ?? ''),
        )?.source;
        const what = `${status.ref.kind} ${status.ref.namespace ? `${status.ref.namespace}/` : ''}${status.ref.name}`;
        const message = `device ${mailbox.metadata.name}: ${what}: ${status.message ?? reason}`;
        events.record(
          source
            ? {
                apiVersion: 'outpost.dev/v1alpha1',
                kind: 'Workload',
                namespace: source.namespace,
                name: source.workload,
              }
            : mailbox,
          'Warning',
          reason,
          message,
          GUARD_REASONS[reason],
        );
      }
    },
  });
}

function objectsOf(mailbox: KubeObject): ObjectStatus[] {
  return (mailbox.status as Mailbox['status'])?.objects ?? [];
}

function identity(ref: ObjectStatus['ref']): string {
  return `${ref.kind}/${ref.namespace ?? ''}/${ref.name}`;
}
