/**
 * Signing device certificates: checking that a CSR asks for the right name
 * with an ECDSA P-256 key, and issuing a client certificate that names the
 * device, its group and the uid of its Device object.
 */
import { createHash, createPublicKey } from 'node:crypto';
import { DEVICE_UID_URI_PREFIX, DEVICES_GROUP, deviceUser } from '../auth/index.ts';
import { errors } from '../kube-api/index.ts';
import {
  type CertificateAuthority,
  createFastIssuer,
  type FastParsedCsr,
  InvalidCsrError,
  parseCsrFast,
} from '../pki/index.ts';

/** A CSR that passed {@link checkCsr}: its public key and that key's fingerprint. */
export interface CheckedCsr {
  /** PEM SubjectPublicKeyInfo. */
  readonly publicKey: string;
  /** `sha256:<hex>` of the DER SubjectPublicKeyInfo. */
  readonly publicKeyHash: string;
}

/**
 * Verifies a CSR for device `name`: a PKCS#10 request whose self-signature
 * verifies, with subject CN `outpost:device:<name>` and an ECDSA P-256 key.
 * The O the request asks for is ignored: the hub decides the groups.
 * @throws ApiError 400 naming what is wrong.
 */
export async function checkCsr(pem: string, name: string): Promise<CheckedCsr> {
  let parsed: FastParsedCsr;
  try {
    // Refuses anything but ECDSA P-256 with SHA-256 (malformed), and a signature that does not verify.
    parsed = parseCsrFast(pem);
  } catch (error) {
    if (error instanceof InvalidCsrError)
      throw errors.badRequest(`invalid certificate signing request: ${error.message}`);
    throw error;
  }
  const wanted = deviceUser(name);
  if (parsed.commonName !== wanted)
    throw errors.badRequest(
      `certificate signing request names ${JSON.stringify(parsed.commonName)}, but the device being enrolled is ${JSON.stringify(wanted)}`,
    );
  return { publicKey: parsed.publicKey, publicKeyHash: hashOf(parsed.publicKeyDer) };
}

/** `sha256:<hex>` of a public key's DER SubjectPublicKeyInfo (given as PEM). */
export function publicKeyHash(pem: string): string {
  return hashOf(createPublicKey(pem).export({ type: 'spki', format: 'der' }));
}

function hashOf(spki: Uint8Array): string {
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

/** Options of {@link signDeviceCertificate}. */
export interface SignDeviceOptions {
  readonly name: string;
  readonly uid: string;
  readonly publicKey: string;
  readonly lifetimeSeconds: number;
  readonly now: Date;
}

const issuers = new WeakMap<CertificateAuthority, ReturnType<typeof createFastIssuer>>();

/** Issues a device's client certificate (CN, O and uid SAN as the authenticator expects). */
export function signDeviceCertificate(ca: CertificateAuthority, options: SignDeviceOptions): string {
  let issue = issuers.get(ca);
  if (!issue) {
    issue = createFastIssuer(ca);
    issuers.set(ca, issue);
  }
  return issue({
    commonName: deviceUser(options.name),
    organizations: [DEVICES_GROUP],
    publicKey: options.publicKey,
    lifetimeSeconds: options.lifetimeSeconds,
    uris: [`${DEVICE_UID_URI_PREFIX}${options.uid}`],
    now: options.now,
  });
}

/**
 * When a certificate {@link signDeviceCertificate} issues at `at` expires, as RFC 3339 (whole
 * seconds, as X.509 carries them: the issuer truncates the issuing time the same way).
 */
export function deviceCertificateNotAfter(at: Date, lifetimeSeconds: number): string {
  return new Date((Math.floor(at.getTime() / 1000) + lifetimeSeconds) * 1000)
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z');
}
