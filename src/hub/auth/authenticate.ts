import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { peerIdentity } from '../pki/index.ts';

/** Who made a request. */
export interface Identity {
  readonly user: string;
  readonly groups: readonly string[];
}

/** Finds who made a request, or undefined when it carries no valid credential. */
export type Authenticator = (request: IncomingMessage) => Identity | undefined;

const bySocket = new WeakMap<TLSSocket, Identity | null>();

/**
 * Authenticates by client certificate (verified against the hub's CA by the
 * TLS layer: CN is the user, O the groups) or by a bearer token from
 * `tokens`. A connection's certificate identity is computed once and reused
 * for every request on it (keep-alive).
 */
export function createAuthenticator(tokens: ReadonlyMap<string, Identity> = new Map()): Authenticator {
  return (request) => {
    const socket = request.socket as TLSSocket;
    if (typeof socket.getPeerCertificate === 'function') {
      let identity = bySocket.get(socket);
      if (identity === undefined) {
        identity = (socket.authorized && peerIdentity(socket.getPeerCertificate())) || null;
        bySocket.set(socket, identity);
      }
      if (identity) return identity;
    }
    const header = request.headers.authorization;
    if (header?.startsWith('Bearer ')) return lookupToken(tokens, header.slice(7).trim());
    return undefined;
  };
}

function lookupToken(tokens: ReadonlyMap<string, Identity>, token: string): Identity | undefined {
  const candidate = Buffer.from(token);
  for (const [known, identity] of tokens) {
    const expected = Buffer.from(known);
    if (expected.length === candidate.length && timingSafeEqual(expected, candidate)) return identity;
  }
  return undefined;
}
