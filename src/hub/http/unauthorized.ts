/**
 * The 401 a request without valid credentials gets, and the one case it says
 * more: a device whose certificate is valid but whose Device is gone was
 * decommissioned, and its agent stops for good instead of retrying (see
 * `DeviceDecommissionedReason` in src/api/enrollment.ts).
 */
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import type { DeviceDecommissionedReason, KindDefinition } from '../../api/index.ts';
import { certificateDeviceOf } from '../auth/index.ts';
import { ApiError, errors, type ObjectService, parse } from '../kube-api/index.ts';

const DECOMMISSIONED: DeviceDecommissionedReason = 'DeviceDecommissioned';

/**
 * The refusal of an unauthenticated request. The device index that refused
 * it may lag behind the store (a replica that has not yet seen a Device just
 * enrolled), so the store has the last word: only a Device that is absent,
 * being deleted, or of another uid makes the answer "decommissioned"; a store
 * that cannot answer gives the plain 401, which agents retry.
 */
export async function unauthorized(
  request: IncomingMessage | Http2ServerRequest,
  service: ObjectService,
  deviceKind: KindDefinition,
): Promise<ApiError> {
  const claimed = certificateDeviceOf(request);
  if (!claimed) return errors.unauthorized();
  let gone: boolean;
  try {
    const stored = await service.find(deviceKind, undefined, claimed.name);
    const device = stored ? parse(stored) : undefined;
    gone = !device || device.metadata.uid !== claimed.uid || device.metadata.deletionTimestamp !== undefined;
  } catch {
    return errors.unauthorized();
  }
  if (!gone) return errors.unauthorized();
  const message = `device ${claimed.name} was decommissioned: its Device no longer exists on the hub; enroll again with a new bootstrap token`;
  return new ApiError(401, 'Unauthorized', message, {
    name: claimed.name,
    group: deviceKind.group,
    kind: deviceKind.plural,
    causes: [{ reason: DECOMMISSIONED, message }],
  });
}
