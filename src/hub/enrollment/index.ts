/**
 * Device enrollment (pairing): bootstrap tokens checked and counted, the
 * Device created from the request, its certificate signed at once or after
 * approval (issued once, to a poll signed with the enrollment key), renewed
 * before expiry or within a grace period after it (which retires the
 * enrollment key).
 */
export {
  ISSUED_ANNOTATION,
  PUBLIC_KEY_ANNOTATION,
  RETIRED_ANNOTATION,
} from './issuance.ts';
export { type EnrollmentOptions, registerEnrollment, TOKEN_ANNOTATION } from './routes.ts';
export { publicKeyHash } from './signer.ts';
