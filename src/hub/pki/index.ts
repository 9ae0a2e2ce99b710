/**
 * The hub's PKI: its certificate authority, serving and admin certificates on
 * disk, signing certificates for enrolling devices from their CSRs, reading
 * the caller's identity from a verified client certificate, and writing
 * kubeconfig files. ECDSA P-256 and SHA-256 throughout.
 */
export {
  type CertificateAuthority,
  type CreateCaOptions,
  createCertificateAuthority,
  type IssueCertificateOptions,
  issueCertificate,
  loadCertificateAuthority,
  type NewCertificateAuthority,
} from './authority.ts';
export { type ParsedCsr, parseCsr } from './csr.ts';
export { InvalidCsrError, type InvalidCsrReason, InvalidPublicKeyError, PkiStateError } from './errors.ts';
export { createFastIssuer, type FastIssueOptions, type FastParsedCsr, parseCsrFast } from './fast-path.ts';
export { type HubPki, type HubPkiOptions, loadOrCreatePki } from './hub-pki.ts';
export { InvalidKubeconfigOptionsError, type WriteKubeconfigOptions, writeKubeconfig } from './kubeconfig.ts';
export { keepOrIssueLeaf, type LeafPair, type LeafSpec } from './leaf.ts';
export { type HostSet, splitHosts } from './names.ts';
export { type PeerIdentity, peerIdentity } from './peer-identity.ts';
export { SHARED_CA_KEY, type ShareCaOptions, shareCertificateAuthority } from './shared-ca.ts';
export { type VerifiedCertificate, verifyIssuedBy } from './verify.ts';
