/**
 * Reading certificate signing requests sent by devices at enrollment: the
 * device keeps its private key and sends only a PKCS#10 request.
 */
import { endLine, x509 } from './crypto.ts';
import { InvalidCsrError } from './errors.ts';

const OID_COMMON_NAME = '2.5.4.3';
const OID_ORGANIZATION = '2.5.4.10';

/** What a verified certificate signing request asks for. */
export interface ParsedCsr {
  /** The subject CN; empty when the request names none. */
  readonly commonName: string;
  /** The subject O entries, in order. */
  readonly organizations: string[];
  /** The requester's public key as a PEM SubjectPublicKeyInfo, ready for {@link issueCertificate}. */
  readonly publicKey: string;
  /**
   * Always `true`: the self-signature verified against `publicKey`, proving
   * the requester holds the private key. A request that fails the check is
   * never returned (see {@link parseCsr}), so no caller can forget to look.
   */
  readonly verified: true;
}

/**
 * Parses a PEM (or base64 DER) PKCS#10 request and verifies its self-signature.
 *
 * The subject is only reported here: what CN and O a device really gets is
 * the enrollment policy's decision, not the requester's.
 *
 * @throws InvalidCsrError with `reason: 'malformed'` for input that is not a
 *   PKCS#10 request or carries more than one CN, and `reason: 'signature'`
 *   when the signature does not verify (a tampered or forged request).
 */
export async function parseCsr(pem: string): Promise<ParsedCsr> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(pem.trim());
  } catch (cause) {
    throw new InvalidCsrError('malformed', 'certificate signing request is not a PKCS#10 document', {
      cause,
    });
  }
  let verified: boolean;
  try {
    verified = await csr.verify();
  } catch (cause) {
    // An unsupported or broken key makes verification throw rather than return false.
    throw new InvalidCsrError('malformed', 'certificate signing request has an unusable public key', {
      cause,
    });
  }
  if (!verified) {
    throw new InvalidCsrError('signature', 'certificate signing request signature does not verify');
  }
  const commonNames = csr.subjectName.getField(OID_COMMON_NAME);
  if (commonNames.length > 1) {
    throw new InvalidCsrError('malformed', 'certificate signing request names more than one common name');
  }
  return {
    commonName: commonNames[0] ?? '',
    organizations: csr.subjectName.getField(OID_ORGANIZATION),
    publicKey: endLine(csr.publicKey.toString('pem')),
    verified: true,
  };
}
