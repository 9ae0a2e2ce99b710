/**
 * Checking a certificate against the hub's CA outside the TLS layer: for a
 * device renewing with an expired certificate, which TLS reports as
 * `CERT_HAS_EXPIRED` and leaves to the hub to judge.
 */
import type { CertificateAuthority } from './authority.ts';
import { x509 } from './crypto.ts';

/** A certificate the CA issued, as {@link verifyIssuedBy} read it. */
export interface VerifiedCertificate {
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The subject CN; empty when none. */
  readonly commonName: string;
  /** URI subject alternative names. */
  readonly uris: string[];
}

/**
 * Verifies that `der` is a certificate signed by `ca` (issuer name and
 * signature), whatever its validity period: the caller judges the dates.
 *
 * @returns undefined for anything unparsable, issued by another CA, or with
 *   a signature that does not verify.
 */
export async function verifyIssuedBy(
  ca: CertificateAuthority,
  der: Uint8Array,
): Promise<VerifiedCertificate | undefined> {
  let certificate: x509.X509Certificate;
  try {
    certificate = new x509.X509Certificate(new Uint8Array(der));
  } catch {
    return undefined;
  }
  if (certificate.issuer !== ca.certificate.subject) return undefined;
  try {
    const valid = await certificate.verify({ publicKey: ca.certificate.publicKey, signatureOnly: true });
    if (!valid) return undefined;
  } catch {
    return undefined;
  }
  const san = certificate.getExtension(x509.SubjectAlternativeNameExtension);
  const uris = (san?.names.toJSON() ?? []).filter((n) => n.type === 'url').map((n) => n.value);
  return {
    notBefore: certificate.notBefore,
    notAfter: certificate.notAfter,
    commonName: certificate.subjectName.getField('2.5.4.3')[0] ?? '',
    uris,
  };
}
