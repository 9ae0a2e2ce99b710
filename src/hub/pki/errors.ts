/**
 * Error classes of the PKI: one per failure mode, so callers (the enrollment
 * endpoint, the hub's startup) can translate each to the right answer.
 */

/** Why a certificate signing request was refused. */
export type InvalidCsrReason = 'malformed' | 'signature';

/**
 * A certificate signing request that cannot be used: not a PKCS#10 PEM/DER
 * document (`reason: 'malformed'`), or its self-signature does not verify
 * against the public key it carries (`reason: 'signature'`, a tampered or
 * forged request). Enrollment answers it with HTTP 400.
 */
export class InvalidCsrError extends Error {
  override readonly name = 'InvalidCsrError';
  readonly reason: InvalidCsrReason;

  constructor(reason: InvalidCsrReason, message: string, options?: ErrorOptions) {
    super(message, options);
    this.reason = reason;
  }
}

/** A public key given to {@link issueCertificate} that is not a valid PEM SubjectPublicKeyInfo. */
export class InvalidPublicKeyError extends Error {
  override readonly name = 'InvalidPublicKeyError';
}

/**
 * The PKI folder holds files that cannot be used as they are and that the hub
 * must not silently replace: a CA certificate without its key, a CA key that
 * does not match the certificate, an unreadable CA, an expired CA. Replacing
 * the CA would cut off every enrolled device, so this is left to an operator.
 */
export class PkiStateError extends Error {
  override readonly name = 'PkiStateError';
  /** The file at fault. */
  readonly path: string;

  constructor(path: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.path = path;
  }
}
