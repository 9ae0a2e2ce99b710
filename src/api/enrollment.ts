import Type from 'typebox';

/**
 * The enrollment endpoints' wire contract, one definition for the hub (which
 * validates requests against these schemas: src/hub/enrollment/) and the
 * agent (which builds the requests and reads the answers:
 * src/agent/enrollment/). The agent imports only the types, so that an
 * enrolled agent never loads a schema (its resident memory).
 *
 *   POST /enroll                        EnrollRequest -> 201 Issued / 202 Pending EnrollmentResponse
 *   POST /enroll/poll                   PollRequest (signed with the enrollment key) -> 202 Pending / 200 Issued
 *   POST /enroll/renew                  RenewRequest (over mTLS) -> 200 Issued EnrollmentResponse
 *   GET  /enroll/ca[?tokenId=ID]        -> EnrollmentCaResponse
 */

/** Hardware facts a device reports when it enrolls (they become the Device's `status.system`). */
export const DeviceFactsSchema = Type.Object({
  hostname: Type.String({ minLength: 1, maxLength: 253 }),
  os: Type.String({ minLength: 1, maxLength: 253 }),
  architecture: Type.String({ minLength: 1, maxLength: 64 }),
  cpus: Type.Integer({ minimum: 1 }),
  memoryBytes: Type.Integer({ minimum: 1 }),
  machineId: Type.String({ minLength: 1, maxLength: 253 }),
  kernel: Type.Optional(Type.String({ maxLength: 253 })),
  agentVersion: Type.Optional(Type.String({ maxLength: 64 })),
});
export type DeviceFacts = Type.Static<typeof DeviceFactsSchema>;

/**
 * `POST /enroll`: a bootstrap token (`<id>.<secret>`), the device's name, its
 * CSR (PEM) and its facts, and the labels the device asks for
 * (`outpost agent --labels`): each must be one the token allows
 * (`allowedLabels`) or sets to the same value (`deviceLabels`), else 403.
 */
export const EnrollRequestSchema = Type.Object({
  token: Type.String(),
  name: Type.String(),
  csr: Type.String({ maxLength: 16384 }),
  facts: DeviceFactsSchema,
  labels: Type.Optional(Type.Record(Type.String(), Type.String(), { maxProperties: 64 })),
});
export type EnrollRequest = Type.Static<typeof EnrollRequestSchema>;

/**
 * `POST /enroll/poll`: a device waiting for its certificate (approval
 * pending, or an answer lost) proves it holds its enrollment key by signing
 * {@link pollProof} of its name and the hub's time with it (ECDSA P-256,
 * SHA-256, DER, base64). The hub answers only such a poll, within
 * {@link POLL_TIME_WINDOW_SECONDS} of its clock, and only until the device
 * first renews; every other poll gets the same 401.
 */
export const PollRequestSchema = Type.Object({
  name: Type.String({ maxLength: 253 }),
  /** The hub's time as the device reckons it (ISO 8601): the Date of the hub's answers. */
  time: Type.String({ maxLength: 64 }),
  signature: Type.String({ maxLength: 256 }),
});
export type PollRequest = Type.Static<typeof PollRequestSchema>;

/** How far a poll's time may be from the hub's clock. */
export const POLL_TIME_WINDOW_SECONDS = 300;

/** The bytes a poll's signature covers: a fixed prefix (nothing else signed with the key reads so), the name, the time. */
export function pollProof(name: string, time: string): Buffer {
  return Buffer.from(`outpost-enrollment-poll\n${name}\n${time}`, 'utf8');
}

/** `POST /enroll/renew`: a CSR (PEM) for a new key, sent with the current (or recently expired) certificate. */
export const RenewRequestSchema = Type.Object({ csr: Type.String({ maxLength: 16384 }) });
export type RenewRequest = Type.Static<typeof RenewRequestSchema>;

/** What every enrollment endpoint but `/enroll/ca` answers on success. */
export interface EnrollmentResponse {
  readonly apiVersion: 'outpost.dev/v1alpha1';
  readonly kind: 'EnrollmentResponse';
  readonly name: string;
  /** The uid of the Device the certificate is bound to. */
  readonly uid: string;
  /** `Pending` until approved, then `Issued` with the certificate. */
  readonly phase: 'Pending' | 'Issued';
  /** The device's certificate (PEM), once issued. */
  readonly certificate?: string;
  /** The hub's CA (PEM). */
  readonly caCertificate: string;
}

/**
 * `GET /enroll/ca`: the hub's CA, fetched unverified on first contact; with
 * `?tokenId=ID`, signed with that bootstrap token's secret hash over a fresh
 * nonce and the CA (see `caSignature` in bootstrap-token.ts) so that the
 * device can trust it. An unknown id gets a random signature of the same
 * shape: every answer differs, so none tells whether the id exists.
 */
export interface EnrollmentCaResponse {
  caCertificate: string;
  signature?: string;
  /** Random hex, new in every answer that carries a signature. */
  nonce?: string;
}

/**
 * The cause reason of the 401 a hub answers a device whose certificate is
 * valid but whose Device is gone (deleted, being deleted, or re-created with
 * another uid): the device was decommissioned and must not retry. Any other
 * 401 (a certificate the hub does not know, e.g. another hub's) is not this.
 * A type, so that the agent checks it without loading this module:
 *
 *   Status { code: 401, reason: 'Unauthorized', details: { kind: 'devices', name,
 *            causes: [{ reason: 'DeviceDecommissioned', message }] } }
 */
export type DeviceDecommissionedReason = 'DeviceDecommissioned';
