/**
 * The one place that sets up `@peculiar/x509` on Node's WebCrypto, and the
 * PEM helpers for ECDSA P-256 keys the rest of the folder shares.
 *
 * `reflect-metadata` must be loaded before `@peculiar/x509` (its ASN.1 schemas
 * use decorators), hence the import order below; every other module of this
 * folder imports x509 through here so the order always holds.
 */
import 'reflect-metadata';
import { createPublicKey, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

// Node's webcrypto is structurally the DOM Crypto; the cast only bridges type declarations.
const nodeCrypto = webcrypto as unknown as Crypto;
x509.cryptoProvider.set(nodeCrypto);

export { x509 };

/** The key and signature algorithm used for every key Outpost generates. */
export const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** Generates an ECDSA P-256 key pair; the private key is extractable so it can be written as PKCS#8. */
export async function generateKeyPair(): Promise<CryptoKeyPair> {
  return (await nodeCrypto.subtle.generateKey(ECDSA_P256, true, ['sign', 'verify'])) as CryptoKeyPair;
}

/** Exports a private key as PEM PKCS#8 (`-----BEGIN PRIVATE KEY-----`), the form Node and Go both read. */
export async function privateKeyToPem(key: CryptoKey): Promise<string> {
  const der = await nodeCrypto.subtle.exportKey('pkcs8', key);
  return endLine(x509.PemConverter.encode(der, 'PRIVATE KEY'));
}

/** PEM text as files conventionally hold it: ending with a newline (x509 leaves it off). */
export function endLine(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}

/** Imports a PEM PKCS#8 ECDSA P-256 private key for signing (not extractable). */
export async function importSigningKey(pem: string): Promise<CryptoKey> {
  const der = x509.PemConverter.decodeFirst(pem);
  return nodeCrypto.subtle.importKey('pkcs8', der, ECDSA_P256, false, ['sign']);
}

/** The DER SubjectPublicKeyInfo of the public half of a PEM private key (any algorithm Node reads). */
export function publicKeyDerOfPrivateKey(pem: string): Buffer {
  return createPublicKey(pem).export({ type: 'spki', format: 'der' });
}

/** True when two DER encodings are byte for byte equal. */
export function sameBytes(a: ArrayBuffer | Uint8Array, b: ArrayBuffer | Uint8Array): boolean {
  return Buffer.from(a instanceof Uint8Array ? a : new Uint8Array(a)).equals(
    b instanceof Uint8Array ? b : new Uint8Array(b),
  );
}
