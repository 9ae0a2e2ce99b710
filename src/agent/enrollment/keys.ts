/**
 * The device's key material: ECDSA P-256 keys generated on the device (the
 * private key never leaves it), the CSR that asks the hub to certify one,
 * and reading the certificates the hub sends back.
 *
 * Only `node:crypto` and a few bytes of DER: the agent runs for months on
 * small devices, and `@peculiar/x509` (with `reflect-metadata` and its ASN.1
 * schemas) cost it ~10 MB of resident memory for a CSR every 20 days. The
 * request has one fixed shape (CN only, no attributes), which the hub's
 * parsers (`@peculiar/x509` and its fast path) read like any other.
 */
import { createHash, createPublicKey, generateKeyPair, sign, X509Certificate } from 'node:crypto';
import { promisify } from 'node:util';

const DEVICE_USER_PREFIX = 'outpost:device:';
const DEVICE_UID_URI_PREFIX = 'urn:outpost:device-uid:';

const generateKeyPairAsync = promisify(generateKeyPair);

/** Generates a new ECDSA P-256 private key as PEM PKCS#8. */
export async function generateKeyPem(): Promise<string> {
  const { privateKey } = await generateKeyPairAsync('ec', {
    namedCurve: 'P-256',
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return privateKey;
}

/** Builds a PEM PKCS#10 request for device `name` (CN `outpost:device:<name>`), signed with `keyPem`. */
export async function createCsr(keyPem: string, name: string): Promise<string> {
  const spki = createPublicKey(keyPem).export({ type: 'spki', format: 'der' });
  const subject = sequence(set(sequence(OID_COMMON_NAME, utf8String(`${DEVICE_USER_PREFIX}${name}`))));
  // CertificationRequestInfo: version 0, subject, subjectPKInfo, attributes [0] (none).
  const info = sequence(VERSION_0, subject, spki, EMPTY_ATTRIBUTES);
  const signature = sign('sha256', info, { key: keyPem, dsaEncoding: 'der' });
  const request = sequence(info, ECDSA_WITH_SHA256, encode(0x03, Buffer.from([0]), signature));
  const lines = request.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE REQUEST-----\n${lines.join('\n')}\n-----END CERTIFICATE REQUEST-----\n`;
}

/** An ECDSA (SHA-256, DER) signature of `data` with `keyPem`, base64: what the enrollment poll proves possession with. */
export function signWithKey(keyPem: string, data: Uint8Array): string {
  return sign('sha256', data, { key: keyPem, dsaEncoding: 'der' }).toString('base64');
}

/** `sha256:<hex>` of the DER SubjectPublicKeyInfo of a key, private or public, or of a certificate's key. */
export function publicKeyHash(pem: string): string {
  const der = createPublicKey(pem).export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(der).digest('hex')}`;
}

/** What the agent needs to know of a certificate the hub issued. */
export interface CertificateInfo {
  readonly name: string;
  readonly uid: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/**
 * Reads a device certificate: its device name (CN), Device uid (URI SAN) and validity.
 * @throws Error when it is not a device certificate.
 */
export function readCertificate(pem: string): CertificateInfo {
  const certificate = new X509Certificate(pem);
  const commonName = [certificate.toLegacyObject().subject?.CN ?? ''].flat()[0] ?? '';
  // `URI:<value>` entries, comma-separated; values with special characters come JSON-quoted.
  const uid = (certificate.subjectAltName ?? '')
    .split(', ')
    .filter((entry) => entry.startsWith('URI:'))
    .map((entry) => (entry.startsWith('URI:"') ? (JSON.parse(entry.slice(4)) as string) : entry.slice(4)))
    .find((value) => value.startsWith(DEVICE_UID_URI_PREFIX))
    ?.slice(DEVICE_UID_URI_PREFIX.length);
  if (!commonName.startsWith(DEVICE_USER_PREFIX) || !uid) throw new Error('not a device certificate');
  return {
    name: commonName.slice(DEVICE_USER_PREFIX.length),
    uid,
    notBefore: new Date(certificate.validFrom),
    notAfter: new Date(certificate.validTo),
  };
}

// The little DER a CSR of one fixed shape needs.

/** Encodes one element (definite length). */
function encode(tag: number, ...contents: Uint8Array[]): Buffer {
  const body = Buffer.concat(contents);
  const n = body.length;
  const header = n < 0x80 ? [tag, n] : n < 0x100 ? [tag, 0x81, n] : [tag, 0x82, (n >> 8) & 0xff, n & 0xff];
  return Buffer.concat([Buffer.from(header), body]);
}

const sequence = (...contents: Uint8Array[]) => encode(0x30, ...contents);
const set = (...contents: Uint8Array[]) => encode(0x31, ...contents);
const utf8String = (text: string) => encode(0x0c, Buffer.from(text, 'utf8'));
const VERSION_0 = Buffer.from([0x02, 0x01, 0x00]);
const EMPTY_ATTRIBUTES = Buffer.from([0xa0, 0x00]);
/** OBJECT IDENTIFIER 2.5.4.3 (commonName). */
const OID_COMMON_NAME = Buffer.from([0x06, 0x03, 0x55, 0x04, 0x03]);
/** AlgorithmIdentifier ecdsa-with-SHA256 (1.2.840.10045.4.3.2), without parameters. */
const ECDSA_WITH_SHA256 = Buffer.from('300a06082a8648ce3d040302', 'hex');
