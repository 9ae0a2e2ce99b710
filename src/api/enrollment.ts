import Type from 'typebox';

/**
 * The enrollment endpoints' wire contract, one definition for the hub (which
 * validates requests against these schemas: src/hub/enrollment/) and the
 * agent (which builds the requests and reads the answers:
 * src/agent/enrollment/). The agent imports only the types, so that an
 * enrolled agent never loads a schema (its resident memory).
 *
 *   POST /enroll                        EnrollRequest -> 201 Issued / 202 Pending EnrollmentResponse
 *   GET  /enroll/devices/NAME?publicKeyHash=sha256:HEX   -> 202 Pending / 200 Issued EnrollmentResponse
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
 * (`outpost agent --labels`); the token's labels win over them.
 */
export const EnrollRequestSchema = Type.Object({
  token: Type.String(),
  name: Type.String(),
  csr: Type.String({ maxLength: 16384 }),
  facts: DeviceFactsSchema,
  labels: Type.Optional(Type.Record(Type.String(), Type.String(), { maxProperties: 64 })),
});
export type EnrollRequest = Type.Static<typeof EnrollRequestSchema>;

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
 * `?tokenId=ID`, signed with that bootstrap token's secret hash (see
 * `caSignature` in bootstrap-token.ts) so that the device can trust it.
 */
export interface EnrollmentCaResponse {
  caCertificate: string;
  signature?: string;
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
