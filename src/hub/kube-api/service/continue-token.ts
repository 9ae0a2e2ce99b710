import { errors } from '../errors.ts';

/** What a `continue` token carries: the snapshot revision and the last key returned. */
export interface ContinueToken {
  readonly revision: number;
  /** Key (relative to the collection prefix) after which the next page starts. */
  readonly start: string;
}

/** Encodes a continue token (base64 JSON, as the apiserver's are). */
export function encodeContinue(token: ContinueToken): string {
  return Buffer.from(
    JSON.stringify({ v: 'meta.k8s.io/v1', rv: token.revision, start: token.start }),
  ).toString('base64url');
}

/** Decodes a continue token; a token that is not one of ours is a 400. */
export function decodeContinue(text: string): ContinueToken {
  try {
    const decoded = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as {
      v?: unknown;
      rv?: unknown;
      start?: unknown;
    };
    if (
      decoded.v === 'meta.k8s.io/v1' &&
      typeof decoded.rv === 'number' &&
      typeof decoded.start === 'string' &&
      !decoded.start.includes('/')
    ) {
      return { revision: decoded.rv, start: decoded.start };
    }
  } catch {
    // Falls through to the error below.
  }
  throw errors.badRequest('continue key is not valid: the token is malformed');
}
