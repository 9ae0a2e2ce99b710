import type { KubeObject } from '../../api/index.ts';
import { equalAsJson } from '../../util/index.ts';
import type { AdmissionCheck } from './admission.ts';

/**
 * The parts of a Device's status only the hub writes: what it records when
 * it issues the device's certificate (`certificate`, whose expiry drives
 * renewal alerts and the expiry metric) or enrolls it (`objectStorage`, where
 * its uploads go), and the nested-network state the gateway renderer keeps
 * (`nested`: a gateway's children and proxy health, a child's parent state,
 * its parent's broker and proxy, which the agent follows). The agent reports
 * everything else of the status; it never sends these.
 */
export const HUB_OWNED_DEVICE_STATUS = ['certificate', 'objectStorage', 'nested'] as const;

/**
 * Refuses (422, `FieldValueForbidden` naming `status.<field>`) a device's
 * write to its own Device that changes, adds or removes a hub-owned status
 * field ({@link HUB_OWNED_DEVICE_STATUS}): a device may write its Device's
 * status (its heartbeats), but must not be able to point itself at another
 * parent's broker or proxy, or make its certificate look fresh. A write that
 * leaves them as they are (a merge patch without them, an update that echoes
 * them) passes. Only writes made with a device's certificate are checked:
 * the hub's controllers and people with RBAC to `devices/status` keep
 * writing them.
 */
export function createHubOwnedStatusAdmission(): AdmissionCheck {
  return {
    name: 'HubOwnedDeviceStatus',
    handles: (def) => def.group === 'outpost.dev' && def.kind === 'Device',
    admit({ object, old, requester }) {
      if (requester?.device === undefined) return { causes: [] };
      return {
        causes: HUB_OWNED_DEVICE_STATUS.filter(
          (field) => !equalAsJson(statusOf(object)[field], statusOf(old)[field]),
        ).map((field) => ({
          reason: 'FieldValueForbidden' as const,
          field: `status.${field}`,
          message: 'is written by the hub only: a device may not set or change it',
        })),
      };
    },
  };
}

function statusOf(object: KubeObject | undefined): Record<string, unknown> {
  return (object?.status as Record<string, unknown> | undefined) ?? {};
}
