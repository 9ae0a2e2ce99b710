/**
 * Enrollment's fast path: verifying an ECDSA P-256 PKCS#10 request and
 * issuing a client certificate with `node:crypto` and a little DER, at a
 * fraction of `@peculiar/x509`'s cost. Results are the same as
 * {@link parseCsr} and {@link issueCertificate} give (the tests compare them);
 * anything outside ECDSA P-256 with SHA-256 is refused rather than handled.
 */
import { createHash, createPublicKey, ECDH, KeyObject, randomBytes, sign, verify } from 'node:crypto';
import type { CertificateAuthority } from './authority.ts';
import { x509 } from './crypto.ts';
import type { ParsedCsr } from './csr.ts';
import * as der from './der.ts';
import { InvalidCsrError } from './errors.ts';

const ECDSA_WITH_SHA256 = der.sequence(der.oid('1.2.840.10045.4.3.2'));
const OID_CN = der.oid('2.5.4.3');
const OID_O = der.oid('2.5.4.10');
/**
 * The one SubjectPublicKeyInfo shape accepted: id-ecPublicKey on prime256v1,
 * then a BIT STRING of an uncompressed point (04 || X || Y). Matching it byte
 * for byte spares OpenSSL's key decoders, which cost more than the rest of an
 * enrollment's cryptography together (and the DER is then already canonical).
 */
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');
const P256_SPKI_LENGTH = P256_SPKI_PREFIX.length + 65;
/** The same five minutes {@link issueCertificate} moves notBefore back by. */
const MAX_BACKDATE_SECONDS = 5 * 60;

/**
 * Verifies a PEM PKCS#10 request signed with ECDSA P-256/SHA-256 and reads its
 * subject CN and O, as {@link parseCsr} does.
 * @throws InvalidCsrError `malformed` or `signature`.
 */
export function parseCsrFast(text: string): FastParsedCsr {
  let request: Buffer;
  let info: der.Element;
  let algorithm: der.Element;
  let signature: der.Element;
  let subject: der.Element;
  let spki: der.Element;
  try {
    const body =
      /-----BEGIN (?:NEW )?CERTIFICATE REQUEST-----([\s\S]*?)-----END (?:NEW )?CERTIFICATE REQUEST-----/.exec(
        text,
      );
    request = Buffer.from((body ? body[1]! : text).replace(/\s+/g, ''), 'base64');
    const outer = der.readElement(request, 0);
    if (outer.tag !== 0x30 || outer.end !== request.length) throw new RangeError('not a SEQUENCE');
    [info, algorithm, signature] = der.children(request, outer) as [der.Element, der.Element, der.Element];
    const parts = der.children(request, info);
    subject = parts[1]!;
    spki = parts[2]!;
    if (info.tag !== 0x30 || subject.tag !== 0x30 || spki.tag !== 0x30 || signature.tag !== 0x03)
      throw new RangeError('bad shape');
  } catch (cause) {
    throw new InvalidCsrError('malformed', 'certificate signing request is not a PKCS#10 document', {
      cause,
    });
  }
  const spkiDer = request.subarray(spki.start, spki.end);
  if (!isP256Spki(spkiDer) || !request.subarray(algorithm.start, algorithm.end).equals(ECDSA_WITH_SHA256))
    throw new InvalidCsrError('malformed', 'certificate signing request must be ECDSA P-256 with SHA-256');
  let key: KeyObject;
  try {
    // A JWK import checks that the point is on the curve, at a third of the cost of a DER import.
    key = createPublicKey({ key: p256Jwk(spkiDer), format: 'jwk' });
  } catch (cause) {
    throw new InvalidCsrError('malformed', 'certificate signing request has an unusable public key', {
      cause,
    });
  }
  const signed = request.subarray(info.start, info.end);
  // A BIT STRING's first content byte counts unused bits: zero for a signature.
  const signatureBytes = request.subarray(signature.contentStart + 1, signature.end);
  let valid = false;
  try {
    valid = verify('sha256', signed, key, signatureBytes);
  } catch {
    valid = false;
  }
  if (!valid) throw new InvalidCsrError('signature', 'certificate signing request signature does not verify');
  const commonNames: string[] = [];
  const organizations: string[] = [];
  try {
    for (const rdn of der.children(request, subject))
      for (const attribute of der.children(request, rdn)) {
        const [type, value] = der.children(request, attribute) as [der.Element, der.Element];
        const typeBytes = request.subarray(type.start, type.end);
        const text = request.subarray(value.contentStart, value.end).toString('utf8');
        if (typeBytes.equals(OID_CN)) commonNames.push(text);
        else if (typeBytes.equals(OID_O)) organizations.push(text);
      }
  } catch (cause) {
    throw new InvalidCsrError('malformed', 'certificate signing request has an unreadable subject', {
      cause,
    });
  }
  if (commonNames.length > 1)
    throw new InvalidCsrError('malformed', 'certificate signing request names more than one common name');
  const publicKeyDer = Buffer.from(spkiDer);
  return {
    commonName: commonNames[0] ?? '',
    organizations,
    // The DER matched the canonical shape byte for byte: its PEM is what an export would give.
    publicKey: pem('PUBLIC KEY', publicKeyDer),
    publicKeyDer,
    verified: true,
  };
}

/** What {@link parseCsrFast} answers: {@link ParsedCsr} and the key's DER. */
export interface FastParsedCsr extends ParsedCsr {
  /** The DER SubjectPublicKeyInfo (canonical ECDSA P-256, uncompressed point). */
  readonly publicKeyDer: Buffer;
}

/** What {@link createFastIssuer}'s issuer signs: a client certificate. */
export interface FastIssueOptions {
  readonly commonName: string;
  readonly organizations: readonly string[];
  /** PEM SubjectPublicKeyInfo (ECDSA P-256, uncompressed point, as {@link parseCsrFast} gives). */
  readonly publicKey: string;
  readonly lifetimeSeconds: number;
  readonly uris: readonly string[];
  readonly now: Date;
}

/**
 * Prepares a CA for fast issuing of client certificates: its subject, key
 * identifier and signing key are worked out once.
 */
export function createFastIssuer(ca: CertificateAuthority): (options: FastIssueOptions) => string {
  const caDer = Buffer.from(ca.certificate.rawData);
  const caParts = der.children(caDer, der.children(caDer, der.readElement(caDer, 0))[0]!);
  // tbsCertificate: [0] version, serial, signature, issuer, validity, subject, spki, ...
  const caSubject = caParts[5]!;
  const caSpki = caParts[6]!;
  const issuer = caDer.subarray(caSubject.start, caSubject.end);
  // Chain building matches the leaf's authority key id with the CA's own subject key id: use that one.
  const caKeyId = ca.certificate.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  const authorityKeyId = caKeyId
    ? Buffer.from(caKeyId, 'hex')
    : keyIdentifier(caDer.subarray(caSpki.start, caSpki.end));
  const signingKey = KeyObject.from(ca.privateKey);
  const basicConstraints = extension('2.5.29.19', true, der.sequence());
  const keyUsage = extension('2.5.29.15', true, der.encode(0x03, Buffer.from([0x07, 0x80]))); // digitalSignature
  const clientAuth = extension('2.5.29.37', false, der.sequence(der.oid('1.3.6.1.5.5.7.3.2')));
  const authorityKey = extension('2.5.29.35', false, der.sequence(der.encode(0x80, authorityKeyId)));

  return (options) => {
    if (!Number.isSafeInteger(options.lifetimeSeconds) || options.lifetimeSeconds <= 0)
      throw new RangeError(
        `certificate lifetime must be a positive whole number of seconds, got ${options.lifetimeSeconds}`,
      );
    const spki = p256SpkiOf(options.publicKey);
    const issued = Math.floor(options.now.getTime() / 1000);
    const backdate = Math.min(MAX_BACKDATE_SECONDS, Math.floor(options.lifetimeSeconds / 2));
    const serial = randomBytes(16);
    serial[0]! &= 0x7f;
    const subject = der.sequence(
      ...options.organizations.map((o) => der.set(der.sequence(OID_O, der.utf8String(o)))),
      der.set(der.sequence(OID_CN, der.utf8String(options.commonName))),
    );
    const extensions = [
      basicConstraints,
      keyUsage,
      clientAuth,
      extension('2.5.29.14', false, der.octetString(keyIdentifier(spki))),
      authorityKey,
    ];
    if (options.uris.length > 0)
      extensions.push(
        extension(
          '2.5.29.17',
          false,
          der.sequence(...options.uris.map((uri) => der.encode(0x86, Buffer.from(uri, 'ascii')))),
        ),
      );
    const tbs = der.sequence(
      der.encode(0xa0, der.unsignedInteger(Buffer.from([2]))),
      der.unsignedInteger(serial),
      ECDSA_WITH_SHA256,
      issuer,
      der.sequence(
        der.time(new Date((issued - backdate) * 1000)),
        der.time(new Date((issued + options.lifetimeSeconds) * 1000)),
      ),
      subject,
      spki,
      der.encode(0xa3, der.sequence(...extensions)),
    );
    const certificate = der.sequence(tbs, ECDSA_WITH_SHA256, der.bitString(sign('sha256', tbs, signingKey)));
    return pem('CERTIFICATE', certificate);
  };
}

function isP256Spki(spki: Uint8Array): boolean {
  return (
    spki.length === P256_SPKI_LENGTH &&
    spki[P256_SPKI_PREFIX.length] === 0x04 &&
    P256_SPKI_PREFIX.equals(spki.subarray(0, P256_SPKI_PREFIX.length))
  );
}

function p256Jwk(spki: Uint8Array) {
  const point = Buffer.from(spki.buffer, spki.byteOffset + P256_SPKI_PREFIX.length + 1, 64);
  return {
    kty: 'EC',
    crv: 'P-256',
    x: point.subarray(0, 32).toString('base64url'),
    y: point.subarray(32).toString('base64url'),
  };
}

/**
 * The DER of a PEM ECDSA P-256 public key, in the canonical shape, its point
 * checked to be on the curve.
 * @throws RangeError for anything else.
 */
function p256SpkiOf(publicKey: string): Buffer {
  const body = /-----BEGIN PUBLIC KEY-----([\s\S]*?)-----END PUBLIC KEY-----/.exec(publicKey);
  const spki = body ? Buffer.from(body[1]!.replace(/\s+/g, ''), 'base64') : Buffer.alloc(0);
  if (!isP256Spki(spki)) throw new RangeError('the public key must be an ECDSA P-256 SubjectPublicKeyInfo');
  // Throws for a point that is not on the curve.
  ECDH.convertKey(spki.subarray(P256_SPKI_PREFIX.length), 'prime256v1');
  return spki;
}

function pem(label: string, der: Uint8Array): string {
  const lines = Buffer.from(der.buffer, der.byteOffset, der.length)
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n');
  return `-----BEGIN ${label}-----\n${lines}\n-----END ${label}-----\n`;
}

/** RFC 5280 method 1: SHA-1 of the subjectPublicKey BIT STRING's bits (what x509's SubjectKeyIdentifier computes). */
function keyIdentifier(spki: Uint8Array): Buffer {
  const outer = der.readElement(spki, 0);
  const key = der.children(spki, outer)[1]!;
  return createHash('sha1')
    .update(spki.subarray(key.contentStart + 1, key.end))
    .digest();
}

function extension(id: string, critical: boolean, value: Uint8Array): Buffer {
  return der.sequence(der.oid(id), ...(critical ? [der.TRUE] : []), der.octetString(value));
}
