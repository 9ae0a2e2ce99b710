/**
 * Bearer tokens for people (`outpost user token NAME --ttl 8h`): who the holder is, which groups
 * they are in and until when, signed with the hub's CA key. The hub verifies the signature with
 * the CA certificate it already holds (replicas share the CA, so any replica accepts any token):
 * no store read per request, no token table. RBAC then decides as it does for a client
 * certificate with the same CN and O. A token cannot be revoked before it expires other than by
 * replacing the CA: keep the lifetime short (hours), as the CLI's default does.
 *
 * Wire form: `outpost1.` BASE64URL(JSON claims) `.` BASE64URL(ECDSA P-256 SHA-256 signature, r‖s)
 * over everything before the second dot. The `outpost1.` prefix keeps the signed bytes from ever
 * looking like a certificate's DER (which starts with 0x30), so a token signature cannot be
 * passed off as anything else the CA signs.
 */
import { type KeyObject, sign, verify, X509Certificate } from 'node:crypto';
import { claimsDevice } from './device-identity.ts';

const PREFIX = 'outpost1.';

/** What a token says. */
export interface UserTokenClaims {
  /** The user name, as a certificate's CN. */
  readonly sub: string;
  /** Groups, as a certificate's O entries. */
  readonly groups: readonly string[];
  /** Issued at, seconds since the epoch. */
  readonly iat: number;
  /** Expires at, seconds since the epoch: from then on the token is refused with 401. */
  readonly exp: number;
}

/** Signs `claims` with the CA's private key (PEM, as `pki/ca.key`). */
export function signUserToken(claims: UserTokenClaims, caKeyPem: string): string {
  const payload = `${PREFIX}${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  const signature = sign('sha256', Buffer.from(payload), { key: caKeyPem, dsaEncoding: 'ieee-p1363' });
  return `${payload}.${signature.toString('base64url')}`;
}

/** Who a valid token names (an `Identity` of authenticate.ts). */
export interface TokenIdentity {
  readonly user: string;
  readonly groups: readonly string[];
}

/** Checks a bearer token; returns who it names, or undefined (not ours, forged, expired, a device's). */
export type UserTokenVerifier = (token: string) => TokenIdentity | undefined;

/** Whether `token` has the form of a user token (so other bearer tokens are looked up elsewhere). */
export function looksLikeUserToken(token: string): boolean {
  return token.startsWith(PREFIX);
}

/** The most verified tokens remembered: a dashboard sends the same token with every request. */
const CACHE_SIZE = 1024;

/**
 * A verifier for tokens signed by the CA of `caCertPem`. Verified tokens are remembered (up to
 * 1024), so a person's requests cost one signature check per token, not one per request; expiry
 * is still checked on every request.
 */
export function createUserTokenVerifier(caCertPem: string, now: () => number = Date.now): UserTokenVerifier {
  const publicKey: KeyObject = new X509Certificate(caCertPem).publicKey;
  const verified = new Map<string, { identity: TokenIdentity; exp: number }>();
  return (token) => {
    let entry = verified.get(token);
    if (!entry) {
      const claims = readClaims(token, publicKey);
      if (!claims) return undefined;
      entry = { identity: { user: claims.sub, groups: [...claims.groups] }, exp: claims.exp };
      if (verified.size >= CACHE_SIZE) verified.delete(verified.keys().next().value!);
      verified.set(token, entry);
    }
    if (now() >= entry.exp * 1000) {
      verified.delete(token);
      return undefined;
    }
    return entry.identity;
  };
}

function readClaims(token: string, publicKey: KeyObject): UserTokenClaims | undefined {
  if (!looksLikeUserToken(token)) return undefined;
  const dot = token.lastIndexOf('.');
  if (dot <= PREFIX.length) return undefined;
  const payload = token.slice(0, dot);
  const signature = Buffer.from(token.slice(dot + 1), 'base64url');
  if (signature.length !== 64) return undefined;
  const valid = verify(
    'sha256',
    Buffer.from(payload),
    { key: publicKey, dsaEncoding: 'ieee-p1363' },
    signature,
  );
  if (!valid) return undefined;
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(payload.slice(PREFIX.length), 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isClaims(claims)) return undefined;
  // Device identities come from enrollment only, as for certificates.
  if (claimsDevice(claims.sub, claims.groups)) return undefined;
  return claims;
}

function isClaims(value: unknown): value is UserTokenClaims {
  if (typeof value !== 'object' || value === null) return false;
  const claims = value as Record<string, unknown>;
  return (
    typeof claims.sub === 'string' &&
    claims.sub !== '' &&
    Array.isArray(claims.groups) &&
    claims.groups.every((group) => typeof group === 'string') &&
    typeof claims.exp === 'number' &&
    typeof claims.iat === 'number'
  );
}
