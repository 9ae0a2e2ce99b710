/**
 * The hub's own key material on disk: its CA, its serving certificate and the
 * admin client certificate, created on first start and reused afterwards.
 *
 * Layout of `DIR/pki/` (folder mode 0700):
 *   ca.crt ca.key          the CA (10 years)
 *   server.crt server.key  the hub's serving certificate (1 year)
 *   admin.crt admin.key    CN outpost-admin, O system:masters (1 year)
 * Keys are PEM PKCS#8 with mode 0600, certificates PEM with mode 0644.
 *
 * Each key is written before its certificate, so a certificate on disk always
 * has its key beside it; a crash between the two writes leaves a key without
 * a certificate, which the next start completes.
 */
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { readFileIfExists, writeFileAtomic } from '../../util/index.ts';
import {
  type CertificateAuthority,
  createCertificateAuthority,
  issueCertificate,
  loadCertificateAuthority,
} from './authority.ts';
import {
  endLine,
  generateKeyPair,
  privateKeyToPem,
  publicKeyDerOfPrivateKey,
  sameBytes,
  x509,
} from './crypto.ts';
import { PkiStateError } from './errors.ts';
import { certificateHosts, coversHosts, type HostSet, isDnsName, splitHosts } from './names.ts';

/** Options of {@link loadOrCreatePki}. */
export interface HubPkiOptions {
  /**
   * Names and addresses clients use to reach the hub; IPs become IP SANs,
   * the rest DNS SANs. `localhost`, `127.0.0.1`, `::1` and the machine's
   * hostname are always added.
   */
  readonly hosts: readonly string[];
  /** The current time, for tests. @default the current time */
  readonly now?: Date;
}

/** The hub's PKI, loaded. Every certificate and key is PEM text. */
export interface HubPki {
  /** The `pki` folder the files live in. */
  readonly dir: string;
  /** The CA, for {@link issueCertificate} (device enrollment). */
  readonly ca: CertificateAuthority;
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly adminCert: string;
  readonly adminKey: string;
}

const DAY = 24 * 3600;
const LEAF_LIFETIME_SECONDS = 365 * DAY;
/** Leaf certificates closer than this to expiry are re-issued at startup. */
const RENEW_BEFORE_SECONDS = 30 * DAY;
const KEY_MODE = 0o600;
const CERT_MODE = 0o644;

/**
 * Loads the PKI from `dataDir/pki/`, creating whatever is missing.
 *
 * The serving certificate is re-issued (with the same key and CA) when it
 * lacks one of the requested hosts, is within 30 days of expiry, or was not
 * issued by the current CA; the admin certificate likewise except for hosts.
 * The CA is never replaced once it exists.
 *
 * Not safe against two processes creating the same folder at the same time.
 *
 * @throws PkiStateError when the CA files cannot be used: certificate without
 *   key, key not matching, unreadable, or expired.
 */
export async function loadOrCreatePki(dataDir: string, options: HubPkiOptions): Promise<HubPki> {
  const dir = join(dataDir, 'pki');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const now = options.now ?? new Date();
  const ca = await loadOrCreateCa(dir, now);
  const hosts = splitHosts(['localhost', '127.0.0.1', '::1', ...localHostname(), ...options.hosts]);

  const server = await ensureLeaf(dir, 'server', ca, now, {
    commonName: 'outpost-hub',
    organizations: [],
    usage: 'server',
    hosts,
  });
  const admin = await ensureLeaf(dir, 'admin', ca, now, {
    commonName: 'outpost-admin',
    organizations: ['system:masters'],
    usage: 'client',
  });
  return {
    dir,
    ca,
    caCert: ca.certPem,
    serverCert: server.certPem,
    serverKey: server.keyPem,
    adminCert: admin.certPem,
    adminKey: admin.keyPem,
  };
}

async function loadOrCreateCa(dir: string, now: Date): Promise<CertificateAuthority> {
  const certPath = join(dir, 'ca.crt');
  const keyPath = join(dir, 'ca.key');
  const certPem = await readFileIfExists(certPath);
  const keyPem = await readFileIfExists(keyPath);
  if (certPem === undefined) {
    // No certificate means nothing was ever signed: a key alone is a leftover of a crash.
    const created = await createCertificateAuthority({ now });
    await writeFileAtomic(keyPath, created.keyPem, KEY_MODE);
    await writeFileAtomic(certPath, created.ca.certPem, CERT_MODE);
    return created.ca;
  }
  if (keyPem === undefined)
    throw new PkiStateError(keyPath, `CA key ${keyPath} is missing beside ${certPath}`);
  let cert: x509.X509Certificate;
  let keySpki: Buffer;
  try {
    cert = new x509.X509Certificate(certPem);
    keySpki = publicKeyDerOfPrivateKey(keyPem);
  } catch (cause) {
    throw new PkiStateError(certPath, `CA files in ${dir} cannot be read`, { cause });
  }
  if (!sameBytes(cert.publicKey.rawData, keySpki)) {
    throw new PkiStateError(keyPath, `CA key ${keyPath} does not match ${certPath}`);
  }
  if (cert.notAfter.getTime() <= now.getTime()) {
    throw new PkiStateError(certPath, `CA certificate ${certPath} expired at ${cert.notAfter.toISOString()}`);
  }
  return loadCertificateAuthority(certPem, keyPem);
}

interface LeafSpec {
  readonly commonName: string;
  readonly organizations: string[];
  readonly usage: 'client' | 'server';
  readonly hosts?: HostSet;
}

async function ensureLeaf(
  dir: string,
  name: string,
  ca: CertificateAuthority,
  now: Date,
  spec: LeafSpec,
): Promise<{ certPem: string; keyPem: string }> {
  const certPath = join(dir, `${name}.crt`);
  const keyPath = join(dir, `${name}.key`);
  let keyPem = await readFileIfExists(keyPath);
  let keySpki = keyPem === undefined ? undefined : tryPublicKeyDer(keyPem);
  if (keyPem === undefined || keySpki === undefined) {
    const keys = await generateKeyPair();
    keyPem = await privateKeyToPem(keys.privateKey);
    keySpki = publicKeyDerOfPrivateKey(keyPem);
    await writeFileAtomic(keyPath, keyPem, KEY_MODE);
  }
  const existing = await readFileIfExists(certPath);
  if (existing !== undefined && (await leafIsCurrent(existing, ca, keySpki, now, spec))) {
    return { certPem: existing, keyPem };
  }
  const publicKeyPem = endLine(x509.PemConverter.encode(new Uint8Array(keySpki).buffer, 'PUBLIC KEY'));
  const certPem = await issueCertificate(ca, {
    commonName: spec.commonName,
    organizations: spec.organizations,
    publicKey: publicKeyPem,
    lifetimeSeconds: LEAF_LIFETIME_SECONDS,
    usage: spec.usage,
    dnsNames: spec.hosts?.dnsNames,
    ipAddresses: spec.hosts?.ipAddresses,
    now,
  });
  await writeFileAtomic(certPath, certPem, CERT_MODE);
  return { certPem, keyPem };
}

/** True when the certificate on disk can stay: right issuer, key, subject, hosts and enough time left. */
async function leafIsCurrent(
  certPem: string,
  ca: CertificateAuthority,
  keySpki: Buffer,
  now: Date,
  spec: LeafSpec,
): Promise<boolean> {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(certPem);
  } catch {
    return false;
  }
  if (!sameBytes(cert.publicKey.rawData, keySpki)) return false;
  if (cert.notAfter.getTime() - now.getTime() < RENEW_BEFORE_SECONDS * 1000) return false;
  if (!(await cert.verify({ publicKey: ca.certificate.publicKey, signatureOnly: true }))) return false;
  const commonNames = cert.subjectName.getField('CN');
  if (commonNames.length !== 1 || commonNames[0] !== spec.commonName) return false;
  const organizations = cert.subjectName.getField('O');
  if (JSON.stringify(organizations) !== JSON.stringify(spec.organizations)) return false;
  return spec.hosts === undefined || coversHosts(certificateHosts(cert), spec.hosts);
}

function tryPublicKeyDer(keyPem: string): Buffer | undefined {
  try {
    return publicKeyDerOfPrivateKey(keyPem);
  } catch {
    return undefined; // an unreadable key is replaced, and its certificate with it
  }
}

function localHostname(): string[] {
  const name = hostname().toLowerCase();
  // A hostname that is not a valid DNS name (rare, but allowed by some systems) is left out, not fatal.
  return isDnsName(name) ? [name] : [];
}
