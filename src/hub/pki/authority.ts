/**
 * The certificate authority: creating one, and issuing leaf certificates from
 * it for the hub, its admins and (through enrollment) devices.
 */
import { isIP } from 'node:net';
import { ECDSA_P256, endLine, generateKeyPair, importSigningKey, privateKeyToPem, x509 } from './crypto.ts';
import { InvalidPublicKeyError } from './errors.ts';
import { isDnsName, subjectName } from './names.ts';

/**
 * A loaded CA, the handle {@link issueCertificate} signs with. The private key
 * is a non-extractable WebCrypto key: it can sign but never leave the process.
 */
export interface CertificateAuthority {
  /** The CA certificate, parsed. */
  readonly certificate: x509.X509Certificate;
  /** The CA certificate as PEM, what clients put in their trust store. */
  readonly certPem: string;
  /** The CA's signing key. */
  readonly privateKey: CryptoKey;
}

/** Options of {@link createCertificateAuthority}. */
export interface CreateCaOptions {
  /** @default 'outpost-ca' */
  readonly commonName?: string;
  /** @default 10 years */
  readonly lifetimeSeconds?: number;
  /** The issuing time, for tests. @default the current time */
  readonly now?: Date;
}

/** A new CA with its private key as PEM PKCS#8, ready to be written to disk. */
export interface NewCertificateAuthority {
  readonly ca: CertificateAuthority;
  readonly keyPem: string;
}

/** Options of {@link issueCertificate}. */
export interface IssueCertificateOptions {
  readonly commonName: string;
  /** Subject O entries; Kubernetes reads them as the user's groups. @default [] */
  readonly organizations?: readonly string[];
  /** The subject's public key: a WebCrypto key or a PEM SubjectPublicKeyInfo (as {@link parseCsr} returns). */
  readonly publicKey: CryptoKey | string;
  /** Seconds from issuance to `notAfter`; a positive integer. */
  readonly lifetimeSeconds: number;
  /** `client` sets extended key usage clientAuth, `server` serverAuth. */
  readonly usage: 'client' | 'server';
  /** DNS subject alternative names. @default [] */
  readonly dnsNames?: readonly string[];
  /** IP subject alternative names (v4 or v6). @default [] */
  readonly ipAddresses?: readonly string[];
  /** URI subject alternative names (e.g. `urn:outpost:device-uid:UID`). @default [] */
  readonly uris?: readonly string[];
  /** The issuing time, for tests. @default the current time */
  readonly now?: Date;
}

const TEN_YEARS_SECONDS = 10 * 365 * 24 * 3600;
/** How far notBefore is moved into the past to tolerate clocks behind the hub's (as Kubernetes' signer does). */
const MAX_BACKDATE_SECONDS = 5 * 60;

/** Creates a self-signed ECDSA P-256 CA allowed to sign leaf certificates only (path length 0). */
export async function createCertificateAuthority(
  options: CreateCaOptions = {},
): Promise<NewCertificateAuthority> {
  const lifetime = options.lifetimeSeconds ?? TEN_YEARS_SECONDS;
  const { notBefore, notAfter } = validity(options.now ?? new Date(), lifetime);
  const keys = await generateKeyPair();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    name: subjectName(options.commonName ?? 'outpost-ca'),
    keys,
    notBefore,
    notAfter,
    signingAlgorithm: ECDSA_P256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const keyPem = await privateKeyToPem(keys.privateKey);
  // Re-import so the handle holds a non-extractable key like a loaded CA does.
  const ca = {
    certificate,
    certPem: endLine(certificate.toString('pem')),
    privateKey: await importSigningKey(keyPem),
  };
  return { ca, keyPem };
}

/** Builds the handle of a CA loaded from PEM files (the caller has checked that the key matches). */
export async function loadCertificateAuthority(
  certPem: string,
  keyPem: string,
): Promise<CertificateAuthority> {
  const certificate = new x509.X509Certificate(certPem);
  return {
    certificate,
    certPem: endLine(certificate.toString('pem')),
    privateKey: await importSigningKey(keyPem),
  };
}

/**
 * Issues a leaf certificate signed by `ca` and returns it as PEM.
 *
 * notBefore is moved back by up to five minutes (at most half the lifetime) so
 * a device whose clock runs slightly behind accepts it at once; notAfter is
 * the issuing time plus `lifetimeSeconds`. Times have whole-second precision.
 *
 * @throws RangeError for a lifetime that is not a positive integer, or a
 *   malformed DNS name or IP address.
 * @throws InvalidPublicKeyError when `publicKey` is not a valid PEM SPKI.
 */
export async function issueCertificate(
  ca: CertificateAuthority,
  options: IssueCertificateOptions,
): Promise<string> {
  const { notBefore, notAfter } = validity(options.now ?? new Date(), options.lifetimeSeconds);
  const publicKey = toPublicKey(options.publicKey);
  const names = subjectAltNames(options.dnsNames ?? [], options.ipAddresses ?? [], options.uris ?? []);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    // ECDSA keys sign the handshake; they never encipher a key, so digitalSignature alone.
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension(
      [options.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth],
      false,
    ),
    await x509.SubjectKeyIdentifierExtension.create(publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(ca.certificate.publicKey),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, false));
  const certificate = await x509.X509CertificateGenerator.create({
    subject: subjectName(options.commonName, options.organizations),
    issuer: ca.certificate.subjectName,
    publicKey,
    signingKey: ca.privateKey,
    notBefore,
    notAfter,
    signingAlgorithm: ECDSA_P256,
    extensions,
  });
  return endLine(certificate.toString('pem'));
}

function validity(now: Date, lifetimeSeconds: number): { notBefore: Date; notAfter: Date } {
  if (!Number.isSafeInteger(lifetimeSeconds) || lifetimeSeconds <= 0) {
    throw new RangeError(
      `certificate lifetime must be a positive whole number of seconds, got ${lifetimeSeconds}`,
    );
  }
  // X.509 times carry whole seconds; truncating here keeps notAfter - issuance exact.
  const issued = Math.floor(now.getTime() / 1000);
  const backdate = Math.min(MAX_BACKDATE_SECONDS, Math.floor(lifetimeSeconds / 2));
  return {
    notBefore: new Date((issued - backdate) * 1000),
    notAfter: new Date((issued + lifetimeSeconds) * 1000),
  };
}

function toPublicKey(key: CryptoKey | string): x509.PublicKey | CryptoKey {
  if (typeof key !== 'string') return key;
  try {
    return new x509.PublicKey(x509.PemConverter.decodeFirst(key));
  } catch (cause) {
    throw new InvalidPublicKeyError('public key is not a PEM SubjectPublicKeyInfo', { cause });
  }
}

function subjectAltNames(
  dnsNames: readonly string[],
  ipAddresses: readonly string[],
  uris: readonly string[],
): x509.JsonGeneralName[] {
  for (const name of dnsNames)
    if (!isDnsName(name)) throw new RangeError(`not a DNS name: ${JSON.stringify(name)}`);
  for (const ip of ipAddresses)
    if (isIP(ip) === 0) throw new RangeError(`not an IP address: ${JSON.stringify(ip)}`);
  // A URI SAN is IA5String: ASCII without spaces, with a scheme.
  for (const uri of uris)
    if (!/^[a-z][a-z0-9+.-]*:[\x21-\x7e]+$/i.test(uri))
      throw new RangeError(`not a URI: ${JSON.stringify(uri)}`);
  return [
    ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...ipAddresses.map((value) => ({ type: 'ip' as const, value })),
    ...uris.map((value) => ({ type: 'url' as const, value })),
  ];
}
