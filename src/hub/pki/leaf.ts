/**
 * A leaf certificate and its key kept while they still fit, re-issued when
 * not: the hub's own files on disk (hub-pki.ts) and the certificates the hub
 * renders for gateways' brokers (in their Workloads) are judged alike.
 */
import { type CertificateAuthority, issueCertificate } from './authority.ts';
import {
  endLine,
  generateKeyPair,
  privateKeyToPem,
  publicKeyDerOfPrivateKey,
  sameBytes,
  x509,
} from './crypto.ts';
import { certificateHosts, coversHosts, type HostSet } from './names.ts';

/** What a leaf certificate must say. */
export interface LeafSpec {
  readonly commonName: string;
  readonly organizations: readonly string[];
  readonly usage: 'client' | 'server';
  /** Hosts the certificate must cover (a serving certificate). @default none checked */
  readonly hosts?: HostSet;
}

/** A certificate and its private key, PEM. */
export interface LeafPair {
  readonly certPem: string;
  readonly keyPem: string;
}

const DAY = 24 * 3600;
/** Lifetime of every leaf the hub issues for itself or a gateway. */
export const LEAF_LIFETIME_SECONDS = 365 * DAY;
/** Leaf certificates closer than this to expiry are re-issued. */
export const RENEW_BEFORE_SECONDS = 30 * DAY;

/**
 * `held` when its certificate is `spec`'s, from `ca`, matches its key and has
 * more than 30 days left; otherwise a new certificate for `held`'s key (a new
 * key when there is none, or it is unreadable). `issued` tells which.
 */
export async function keepOrIssueLeaf(
  ca: CertificateAuthority,
  held: { readonly certPem?: string | undefined; readonly keyPem?: string | undefined },
  spec: LeafSpec,
  now: Date,
): Promise<LeafPair & { readonly issued: boolean; readonly newKey: boolean }> {
  let keyPem = held.keyPem;
  let keySpki = keyPem === undefined ? undefined : tryPublicKeyDer(keyPem);
  let newKey = false;
  if (keyPem === undefined || keySpki === undefined) {
    const keys = await generateKeyPair();
    keyPem = await privateKeyToPem(keys.privateKey);
    keySpki = publicKeyDerOfPrivateKey(keyPem);
    newKey = true;
  }
  if (!newKey && held.certPem !== undefined && (await leafIsCurrent(held.certPem, ca, keySpki, now, spec)))
    return { certPem: held.certPem, keyPem, issued: false, newKey };
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
  return { certPem, keyPem, issued: true, newKey };
}

/** True when the certificate can stay: right issuer, key, subject, usage, hosts and enough time left. */
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
  const usages = cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? [];
  const wanted =
    spec.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth;
  if (!usages.includes(wanted)) return false;
  return spec.hosts === undefined || coversHosts(certificateHosts(cert), spec.hosts);
}

function tryPublicKeyDer(keyPem: string): Buffer | undefined {
  try {
    return publicKeyDerOfPrivateKey(keyPem);
  } catch {
    return undefined; // an unreadable key is replaced, and its certificate with it
  }
}
