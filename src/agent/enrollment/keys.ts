/**
 * The device's key material: ECDSA P-256 keys generated on the device (the
 * private key never leaves it), the CSR that asks the hub to certify one,
 * and reading the certificates the hub sends back.
 *
 * `reflect-metadata` must load before `@peculiar/x509` (its ASN.1 schemas use
 * decorators), hence the import order.
 */
import 'reflect-metadata';
import { createHash, createPublicKey, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

// Node's webcrypto is structurally the DOM Crypto; the cast only bridges type declarations.
const nodeCrypto = webcrypto as unknown as Crypto;
x509.cryptoProvider.set(nodeCrypto);

const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DEVICE_USER_PREFIX = 'outpost:device:';
const DEVICE_UID_URI_PREFIX = 'urn:outpost:device-uid:';

/** Generates a new ECDSA P-256 private key as PEM PKCS#8. */
export async function generateKeyPem(): Promise<string> {
  const keys = (await nodeCrypto.subtle.generateKey(ECDSA_P256, true, ['sign', 'verify'])) as CryptoKeyPair;
  const der = await nodeCrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return `${x509.PemConverter.encode(der, 'PRIVATE KEY')}\n`;
}

/** Builds a PEM PKCS#10 request for device `name` (CN `outpost:device:<name>`), signed with `keyPem`. */
export async function createCsr(keyPem: string, name: string): Promise<string> {
  const privateKey = await nodeCrypto.subtle.importKey(
    'pkcs8',
    x509.PemConverter.decodeFirst(keyPem),
    ECDSA_P256,
    false,
    ['sign'],
  );
  const spki = createPublicKey(keyPem).export({ type: 'spki', format: 'der' });
  const publicKey = await nodeCrypto.subtle.importKey('spki', spki, ECDSA_P256, true, ['verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: new x509.Name([{ CN: [`${DEVICE_USER_PREFIX}${name}`] }]),
    keys: { privateKey, publicKey },
    signingAlgorithm: ECDSA_P256,
  });
  return `${csr.toString('pem')}\n`;
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
  const certificate = new x509.X509Certificate(pem);
  const commonName = certificate.subjectName.getField('2.5.4.3')[0] ?? '';
  const san = certificate.getExtension(x509.SubjectAlternativeNameExtension);
  const uid = (san?.names.toJSON() ?? [])
    .filter((entry) => entry.type === 'url' && entry.value.startsWith(DEVICE_UID_URI_PREFIX))
    .map((entry) => entry.value.slice(DEVICE_UID_URI_PREFIX.length))[0];
  if (!commonName.startsWith(DEVICE_USER_PREFIX) || !uid) throw new Error('not a device certificate');
  return {
    name: commonName.slice(DEVICE_USER_PREFIX.length),
    uid,
    notBefore: certificate.notBefore,
    notAfter: certificate.notAfter,
  };
}
