/**
 * How a device certificate names its device: subject CN
 * `outpost:device:<name>`, O `outpost:devices`, and a URI SAN
 * `urn:outpost:device-uid:<uid>` binding it to one incarnation of the Device
 * object, so that deleting the Device (or re-creating one of the same name)
 * revokes every certificate issued for it.
 */
import type { PeerCertificate } from 'node:tls';

/** The user-name prefix of devices (a device named `gw-1` is user `outpost:device:gw-1`). */
export const DEVICE_USER_PREFIX = 'outpost:device:';
/**
 * The CN prefix of a gateway bridge's certificate (`outpost:gateway:<name>`): the hub renders it
 * for a gateway's Mosquitto to bridge to its parent's; it is for that broker only, never the hub.
 */
export const GATEWAY_BRIDGE_USER_PREFIX = 'outpost:gateway:';
/** The group every device certificate carries. */
export const DEVICES_GROUP = 'outpost:devices';
/** The prefix of the URI SAN that names the Device's uid. */
export const DEVICE_UID_URI_PREFIX = 'urn:outpost:device-uid:';

/** The user name of a device. */
export function deviceUser(name: string): string {
  return `${DEVICE_USER_PREFIX}${name}`;
}

/** The device a certificate names, as read by {@link deviceOfPeer}. */
export interface DeviceCertificateName {
  readonly name: string;
  readonly uid: string;
}

/**
 * True when a certificate claims to be a device's (by CN prefix or group):
 * such a certificate is accepted only as a device, never as a person.
 */
export function claimsDevice(user: string, groups: readonly string[]): boolean {
  return user.startsWith(DEVICE_USER_PREFIX) || groups.includes(DEVICES_GROUP);
}

/**
 * Reads the device name and uid from a verified peer certificate's CN and
 * URI SAN; undefined when it is not a well-formed device certificate (no uid
 * SAN, several, or the group missing).
 */
export function deviceOfPeer(
  user: string,
  groups: readonly string[],
  cert: Pick<PeerCertificate, 'subjectaltname'>,
): DeviceCertificateName | undefined {
  if (!user.startsWith(DEVICE_USER_PREFIX) || !groups.includes(DEVICES_GROUP)) return undefined;
  const uids = uidsOf(cert.subjectaltname ?? '');
  const name = user.slice(DEVICE_USER_PREFIX.length);
  if (uids.length !== 1 || name === '') return undefined;
  return { name, uid: uids[0]! };
}

/** The device uids named in URI SANs, from Node's `subjectaltname` text or a list of URIs. */
export function uidsOf(sans: string | readonly string[]): string[] {
  // Node writes `URI:urn:...`, entries separated by ', '.
  const uris =
    typeof sans === 'string'
      ? sans
          .split(', ')
          .filter((entry) => entry.startsWith('URI:'))
          .map((entry) => entry.slice(4))
      : sans;
  return uris
    .filter((uri) => uri.startsWith(DEVICE_UID_URI_PREFIX))
    .map((uri) => uri.slice(DEVICE_UID_URI_PREFIX.length));
}
