/**
 * Device enrollment (pairing): bootstrap tokens checked and counted, the
 * Device created from the request, its certificate signed at once or after
 * approval, renewed before expiry or within a grace period after it.
 */
export {
  type EnrollmentOptions,
  PUBLIC_KEY_ANNOTATION,
  registerEnrollment,
  TOKEN_ANNOTATION,
} from './routes.ts';
export { publicKeyHash } from './signer.ts';
