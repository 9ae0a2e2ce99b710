/**
 * Events about devices told from what the hub sees change, on the controllers'
 * leader: a Device approved by an admin, a Device deleted (decommissioned),
 * and a Mailbox delivered (its agent reports having read its current
 * generation). Enrollment, renewal and heartbeats are told where they happen
 * (the enrollment routes, device-health).
 */
import type { Device, KubeObject, Mailbox } from '../../api/index.ts';
import type { Manager } from '../../controller/index.ts';
import type { EventSink } from '../events/index.ts';
import { kindOf } from './support.ts';

/**
 * Adds handlers to the manager's Device and Mailbox informers that record:
 *
 * - `Approved` (Normal) when a Device's `spec.approved` turns true after it
 *   enrolled (an admin's `outpost device approve`; a token that approves at
 *   once is told by enrollment);
 * - `Decommissioned` (Normal) when a Device is deleted: its certificates are
 *   refused from then on and its Mailbox goes with it;
 * - `Delivered` (Normal, on the Mailbox) when the agent's report says it has
 *   read the Mailbox's current generation.
 *
 * Only changes seen while running are told: the informers' first list (a new
 * leader) tells nothing, and a resync is no change.
 */
export function addDeviceEvents(manager: Manager, events: EventSink): void {
  const devices = manager.informer(kindOf(manager.client, 'Device'));
  const mailboxes = manager.informer(kindOf(manager.client, 'Mailbox'));
  devices.addEventHandler({
    onUpdate(old, device) {
      if (old === device || device.metadata.deletionTimestamp) return;
      if (approved(device) && !approved(old) && old.metadata.uid === device.metadata.uid) {
        const name = device.metadata.name!;
        events.record(
          device,
          'Normal',
          'Approved',
          `device ${name} approved: its certificate is issued when its agent asks next`,
          'Approve',
        );
      }
    },
    onDelete(device) {
      const name = device.metadata.name!;
      events.record(
        device,
        'Normal',
        'Decommissioned',
        `device ${name} removed from the inventory: its certificates are refused and its Mailbox deleted`,
        'Delete',
      );
    },
  });
  mailboxes.addEventHandler({
    onUpdate(old, mailbox) {
      if (old === mailbox) return;
      const generation = mailbox.metadata.generation;
      const observed = (mailbox.status as Mailbox['status'])?.observedGeneration;
      if (observed === undefined || observed !== generation) return;
      if ((old.status as Mailbox['status'])?.observedGeneration === observed) return;
      events.record(mailbox, 'Normal', 'Delivered', deliveredMessage(mailbox), 'Deliver');
    },
  });
}

function approved(device: KubeObject): boolean {
  return (device.spec as Device['spec'])?.approved === true;
}

function deliveredMessage(mailbox: KubeObject): string {
  const spec = mailbox.spec as Mailbox['spec'];
  const objects = spec?.objects?.length ?? 0;
  const excluded = spec?.excluded?.length ?? 0;
  const left = excluded > 0 ? `, ${excluded} left out` : '';
  return `device ${mailbox.metadata.name} received generation ${mailbox.metadata.generation}: ${objects} object${objects === 1 ? '' : 's'}${left}`;
}
