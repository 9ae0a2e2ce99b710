/**
 * The enrollment certificate is issued once, to its key's holder, and the
 * enrollment key is retired when the device first renews.
 *
 * - Once: the Device records when its enrollment certificate was first issued
 *   (an annotation, written with the Device at an auto-approved enrollment,
 *   or by the first poll after approval). A later poll (the agent restarted
 *   before it saved the answer, or the answer was lost) gets that same
 *   certificate again: the same key, name, uid and validity, never a fresh
 *   one that would outlive it, and nothing once it has expired.
 * - To its holder: a poll is signed with the enrollment key (`pollProof` of
 *   the name and the hub's time, within five minutes), so knowing the key's
 *   hash (it is in every certificate the device shows) gets nothing.
 * - Retired: the first renewal records the retirement; from then on the poll
 *   refuses the enrollment key, as a stolen copy of it would be used.
 *
 * Every poll that fails these checks gets one answer ({@link pollRefused}),
 * after one signature verification whatever failed (a throw-away key stands
 * in when there is no Device): an unknown name, a deleted or renewed device
 * and a wrong key cannot be told apart.
 */
import { createPublicKey, generateKeyPairSync, type KeyObject, verify } from 'node:crypto';
import {
  type KindDefinition,
  type KubeObject,
  POLL_TIME_WINDOW_SECONDS,
  pollProof,
} from '../../api/index.ts';
import { ApiError, errors, type ObjectService, parse } from '../kube-api/index.ts';

/** The annotation holding the enrolled public key (base64 DER SubjectPublicKeyInfo). */
export const PUBLIC_KEY_ANNOTATION = 'outpost.dev/enrollment-public-key';
/** When the enrollment certificate was first issued (RFC 3339): its validity counts from then. */
export const ISSUED_ANNOTATION = 'outpost.dev/enrollment-certificate-issued';
/** When the device first renewed (RFC 3339): its enrollment key is refused from then on. */
export const RETIRED_ANNOTATION = 'outpost.dev/enrollment-key-retired';

const FIELD_MANAGER = 'outpost-enrollment';
/** Attempts at annotating a Device that other writers keep changing. */
const MAX_ATTEMPTS = 10;
/**
 * Imported and verified against when there is no key, so that every refusal
 * costs the same: one key import (the costly part: about a millisecond of
 * CPU from PEM, a third of that from a JWK) and one verification.
 */
const STAND_IN_KEY = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  .publicKey.export({ type: 'spki', format: 'der' })
  .toString('base64');
/** The 27 bytes every P-256 SubjectPublicKeyInfo with an uncompressed point starts with (up to the 0x04). */
const P256_SPKI_PREFIX = Buffer.from(STAND_IN_KEY, 'base64').subarray(0, 27);

/** The one answer of every poll that does not prove a live enrollment key: 401, always the same body. */
export function pollRefused(): ApiError {
  return new ApiError(
    401,
    'Unauthorized',
    'enrollment poll refused: no enrollment waits under this name for a request signed by this key',
  );
}

/**
 * Refuses a poll whose time is more than five minutes from the hub's clock
 * (checked before anything is read, so it tells nothing about the device).
 * @throws ApiError 400 saying how far off it is.
 */
export function checkPollTime(time: string, now: Date): void {
  const at = Date.parse(time);
  const offSeconds = Math.round((at - now.getTime()) / 1000);
  if (Number.isFinite(at) && Math.abs(offSeconds) <= POLL_TIME_WINDOW_SECONDS) return;
  throw errors.badRequest(
    Number.isFinite(at)
      ? `the poll's time ${time} is ${offSeconds} s from the hub's clock (${now.toISOString()}): sign the hub's time (the Date of its answers)`
      : `the poll's time ${JSON.stringify(time)} is not an RFC 3339 time`,
  );
}

/**
 * The key a poll for `device` must be signed with (base64 DER
 * SubjectPublicKeyInfo, as annotated): its enrollment key, while the Device
 * exists, is not being deleted and has not renewed.
 */
export function enrollmentKeyOf(device: KubeObject | undefined): string | undefined {
  if (!device || device.metadata.deletionTimestamp) return undefined;
  const annotations = device.metadata.annotations ?? {};
  if (annotations[RETIRED_ANNOTATION]) return undefined;
  return annotations[PUBLIC_KEY_ANNOTATION];
}

/**
 * Whether `signature` (base64 DER ECDSA) over `pollProof(name, time)`
 * verifies with `publicKey` (base64 DER SubjectPublicKeyInfo). The same work
 * whatever is missing: a stand-in key is imported and verified against when
 * there is no key, so that a missing key costs what a wrong one does.
 */
export function provesPossession(
  publicKey: string | undefined,
  name: string,
  time: string,
  signature: string,
): boolean {
  const real = publicKey !== undefined ? importP256(publicKey) : undefined;
  const key = real ?? importP256(STAND_IN_KEY)!;
  let valid = false;
  try {
    const proof = pollProof(name, time);
    valid = verify('sha256', proof, { key, dsaEncoding: 'der' }, Buffer.from(signature, 'base64'));
  } catch {
    // not a signature at all
  }
  return valid && real !== undefined;
}

/** Imports a P-256 public key from its base64 DER SubjectPublicKeyInfo, through a JWK (see STAND_IN_KEY). */
function importP256(spkiBase64: string): KeyObject | undefined {
  const der = Buffer.from(spkiBase64, 'base64');
  if (der.length !== 91 || !der.subarray(0, 27).equals(P256_SPKI_PREFIX)) return undefined;
  try {
    const x = der.subarray(27, 59).toString('base64url');
    const y = der.subarray(59).toString('base64url');
    return createPublicKey({ key: { kty: 'EC', crv: 'P-256', x, y }, format: 'jwk' });
  } catch {
    return undefined; // not a point on the curve
  }
}

/** When the Device's enrollment certificate was first issued, if it was. */
export function issuedAtOf(device: KubeObject): Date | undefined {
  const text = device.metadata.annotations?.[ISSUED_ANNOTATION];
  const at = text === undefined ? Number.NaN : Date.parse(text);
  return Number.isFinite(at) ? new Date(at) : undefined;
}

/**
 * Sets annotation `key` on the Device (the same incarnation: its uid) unless
 * it is set already, re-reading and retrying when other writes come between;
 * returns the Device holding it (as written, or as found with it set), or
 * undefined when the Device is gone (or being deleted, or another took its name).
 */
export async function annotateOnce(
  service: ObjectService,
  deviceKind: KindDefinition,
  device: KubeObject,
  key: string,
  value: string,
): Promise<KubeObject | undefined> {
  let current = device;
  for (let attempt = 1; ; attempt++) {
    if (current.metadata.annotations?.[key] !== undefined) return current;
    const next: KubeObject = {
      ...current,
      metadata: { ...current.metadata, annotations: { ...current.metadata.annotations, [key]: value } },
    };
    try {
      // The read resourceVersion is the precondition: a conflict means another write came first.
      return parse(
        await service.update(deviceKind, undefined, current.metadata.name!, next, {
          fieldManager: FIELD_MANAGER,
        }),
      );
    } catch (error) {
      if (!(error instanceof ApiError && error.code === 409) || attempt >= MAX_ATTEMPTS) throw error;
    }
    const stored = await service.find(deviceKind, undefined, device.metadata.name!);
    const reread = stored ? parse(stored) : undefined;
    if (!reread || reread.metadata.uid !== device.metadata.uid || reread.metadata.deletionTimestamp)
      return undefined;
    current = reread;
  }
}

/** The enrolled public key of a Device as PEM, from its annotation. */
export function publicKeyOf(device: KubeObject): string | undefined {
  const base64 = device.metadata.annotations?.[PUBLIC_KEY_ANNOTATION];
  if (!base64) return undefined;
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN PUBLIC KEY-----\n${lines.join('\n')}\n-----END PUBLIC KEY-----\n`;
}
