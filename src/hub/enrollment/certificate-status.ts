/**
 * The Device's `status.certificate`: the hub records the expiry of each client certificate it
 * issues (enrollment, renewal), so that it is in the API for `kubectl get devices -o wide`, the
 * dashboard and the expiry metric, on every replica alike, not only in the memory of the replica
 * a device happens to connect to.
 */
import type { Device, KindDefinition, KubeObject } from '../../api/index.ts';
import type { ObjectService } from '../kube-api/index.ts';

const FIELD_MANAGER = 'outpost-enrollment';

/**
 * Records `notAfter` on `device`'s status; writes nothing when it is recorded already (a repeated
 * poll re-issues the same certificate). A merge patch of that one field: the agent's own status
 * writes (merge patches of other fields) neither conflict with it nor remove it.
 */
export async function recordCertificate(
  service: ObjectService,
  deviceKind: KindDefinition,
  device: KubeObject,
  notAfter: string,
): Promise<void> {
  if ((device.status as Device['status'])?.certificate?.notAfter === notAfter) return;
  await service.patch(
    deviceKind,
    undefined,
    device.metadata.name!,
    'merge',
    { status: { certificate: { notAfter } } },
    { fieldManager: FIELD_MANAGER },
    'status',
  );
}
