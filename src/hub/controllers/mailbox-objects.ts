/**
 * What the hub's Event handlers read of a Mailbox's reported objects: each
 * object's status, its identity, and the Workload it was placed from (the
 * object an Event about it is recorded on).
 */
import type { KubeObject, Mailbox, ObjectStatus } from '../../api/index.ts';
import type { Manager } from '../../controller/index.ts';
import type { EventReference } from '../events/index.ts';
import { kindOf } from './support.ts';

/**
 * Calls `onReport` for each object of a changed Mailbox (a resync is no
 * change), with what the agent reported of it before this change, so a
 * handler tells each new state once, when the report arrives.
 */
export function onReportedObjects(
  manager: Manager,
  onReport: (mailbox: KubeObject, status: ObjectStatus, was: ObjectStatus | undefined) => void,
): void {
  manager.informer(kindOf(manager.client, 'Mailbox')).addEventHandler({
    onUpdate(old, mailbox) {
      if (old === mailbox || mailbox.metadata.deletionTimestamp) return;
      const before = new Map(reportedObjects(old).map((status) => [objectIdentity(status.ref), status]));
      for (const status of reportedObjects(mailbox))
        onReport(mailbox, status, before.get(objectIdentity(status.ref)));
    },
  });
}

/** The objects' statuses an agent last reported in `mailbox`. */
export function reportedObjects(mailbox: KubeObject): ObjectStatus[] {
  return (mailbox.status as Mailbox['status'])?.objects ?? [];
}

/** An object's identity in a Mailbox (kind, namespace, name). */
export function objectIdentity(ref: ObjectStatus['ref']): string {
  return `${ref.kind}/${ref.namespace ?? ''}/${ref.name}`;
}

/** `Pod ns/name`, as messages name an object. */
export function objectWords(ref: ObjectStatus['ref']): string {
  return `${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`;
}

/** The Workload the object comes from, or the Mailbox itself when the spec no longer has it. */
export function workloadOf(mailbox: KubeObject, ref: ObjectStatus['ref']): EventReference | KubeObject {
  const spec = mailbox.spec as Mailbox['spec'];
  const source = spec?.objects?.find(
    (entry) =>
      entry.object.kind === ref.kind &&
      entry.object.metadata.name === ref.name &&
      (entry.object.metadata.namespace ?? '') === (ref.namespace ?? ''),
  )?.source;
  return source
    ? {
        apiVersion: 'outpost.dev/v1alpha1',
        kind: 'Workload',
        namespace: source.namespace,
        name: source.workload,
      }
    : mailbox;
}
