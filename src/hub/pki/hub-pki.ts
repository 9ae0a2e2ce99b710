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
  loadCertificateAuthority,
} from './authority.ts';
import { publicKeyDerOfPrivateKey, sameBytes, x509 } from './crypto.ts';
import { PkiStateError } from './errors.ts';
import { keepOrIssueLeaf, type LeafPair, type LeafSpec } from './leaf.ts';
import { isDnsName, splitHosts } from './names.ts';

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

async function ensureLeaf(
  dir: string,
  name: string,
  ca: CertificateAuthority,
  now: Date,
  spec: LeafSpec,
): Promise<LeafPair> {
  const certPath = join(dir, `${name}.crt`);
  const keyPath = join(dir, `${name}.key`);
  const held = { keyPem: await readFileIfExists(keyPath), certPem: await readFileIfExists(certPath) };
  const leaf = await keepOrIssueLeaf(ca, held, spec, now);
  // The key first: a certificate on disk always has its key beside it.
  if (leaf.newKey) await writeFileAtomic(keyPath, leaf.keyPem, KEY_MODE);
  if (leaf.issued) await writeFileAtomic(certPath, leaf.certPem, CERT_MODE);
  return { certPem: leaf.certPem, keyPem: leaf.keyPem };
}

function localHostname(): string[] {
  const name = hostname().toLowerCase();
  // A hostname that is not a valid DNS name (rare, but allowed by some systems) is left out, not fatal.
  return isDnsName(name) ? [name] : [];
}
