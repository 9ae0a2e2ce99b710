import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { peerIdentity } from '../pki/index.ts';
import {
  claimsDevice,
  type DeviceCertificateName,
  deviceOfPeer,
  GATEWAY_BRIDGE_USER_PREFIX,
} from './device-identity.ts';
import type { Connection, DeviceIndex } from './device-index.ts';
import { looksLikeUserToken, type UserTokenVerifier } from './user-token.ts';

/** Who made a request. */
export interface Identity {
  readonly user: string;
  readonly groups: readonly string[];
  /** The device's name, when a device certificate authenticated the request. */
  readonly device?: string;
  /** A unique id of the user, when impersonation gave one (`Impersonate-Uid`). */
  readonly uid?: string;
  /** Extra attributes, when impersonation gave them (`Impersonate-Extra-<key>`). */
  readonly extra?: Readonly<Record<string, readonly string[]>>;
  /** Who authenticated, when the request runs as someone it impersonates (for the audit log). */
  readonly impersonator?: { readonly user: string; readonly groups: readonly string[] };
}

/** Finds who made a request, or undefined when it carries no valid credential. */
export type Authenticator = (request: IncomingMessage | Http2ServerRequest) => Identity | undefined;

/** Options of {@link createAuthenticator}. */
export interface AuthenticatorOptions {
  /** Bearer tokens and who they are. @default none */
  readonly tokens?: ReadonlyMap<string, Identity>;
  /** Checks people's signed bearer tokens (`outpost user token`). @default none accepted */
  readonly userTokens?: UserTokenVerifier;
  /**
   * The Devices that exist. Device certificates are accepted only while their
   * Device exists with the uid they name and is not being deleted; without an
   * index every device certificate is refused.
   */
  readonly devices?: DeviceIndex;
  /** Milliseconds since the epoch, for tests. @default Date.now */
  readonly now?: () => number;
}

/** What a connection's certificate says, worked out once per connection. */
interface CertificateIdentity {
  readonly identity: Identity;
  readonly uid?: string;
  /** notAfter in milliseconds: a keep-alive connection outliving its certificate stops authenticating. */
  readonly notAfter: number;
}

const byConnection = new WeakMap<Connection, CertificateIdentity | null>();

/**
 * The connection a request came on and its TLS socket: for HTTP/2 the session (one per
 * connection, however many streams), for HTTP/1.1 the socket itself.
 */
function connectionOf(request: IncomingMessage | Http2ServerRequest): {
  connection: Connection;
  tls: TLSSocket;
} {
  const session = (request as Http2ServerRequest).stream?.session;
  if (session) return { connection: session, tls: session.socket as TLSSocket };
  return { connection: request.socket, tls: request.socket as TLSSocket };
}

/**
 * Authenticates by client certificate (verified against the hub's CA by the
 * TLS layer: CN is the user, O the groups) or by a bearer token.
 *
 * A connection's certificate is read once and reused for every request on it
 * (keep-alive), but two things are checked on every request: the
 * certificate's expiry, and for a device certificate that its Device still
 * exists with the same uid. Device connections are registered with the index,
 * which destroys them when the Device is deleted.
 */
export function createAuthenticator(options: AuthenticatorOptions = {}): Authenticator {
  const tokens = options.tokens ?? new Map<string, Identity>();
  const now = options.now ?? Date.now;
  const devices = options.devices;
  return (request) => {
    const { connection, tls } = connectionOf(request);
    if (typeof tls.getPeerCertificate === 'function') {
      let cached = byConnection.get(connection);
      if (cached === undefined) {
        cached = readCertificate(connection, tls, devices);
        byConnection.set(connection, cached);
      }
      if (cached && now() < cached.notAfter) {
        const device = cached.identity.device;
        if (device === undefined) return cached.identity;
        if (devices?.accepts(device, cached.uid!)) return cached.identity;
        return undefined;
      }
    }
    const header = request.headers.authorization;
    if (!header?.startsWith('Bearer ')) return undefined;
    const token = header.slice(7).trim();
    if (looksLikeUserToken(token)) return options.userTokens?.(token);
    return lookupToken(tokens, token);
  };
}

function readCertificate(
  connection: Connection,
  socket: TLSSocket,
  devices: DeviceIndex | undefined,
): CertificateIdentity | null {
  if (!socket.authorized) return null;
  const cert = socket.getPeerCertificate();
  const peer = peerIdentity(cert);
  if (!peer) return null;
  // A gateway bridge's certificate is for its parent gateway's broker only.
  if (peer.user.startsWith(GATEWAY_BRIDGE_USER_PREFIX)) return null;
  const notAfter = Date.parse(cert.valid_to);
  if (!claimsDevice(peer.user, peer.groups)) return { identity: peer, notAfter };
  const device = deviceOfPeer(peer.user, peer.groups, cert);
  // A certificate that claims to be a device's but is not well formed is nobody's.
  if (!device || !devices) return null;
  devices.track(device.name, connection);
  return {
    identity: { user: peer.user, groups: peer.groups, device: device.name },
    uid: device.uid,
    notAfter,
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

/**
 * The device a request's certificate names (verified by TLS and well
 * formed), once the authenticator has read the connection, whether or not
 * that Device still exists: for the 401 that tells a decommissioned device
 * so. Undefined for every other caller.
 */
export function certificateDeviceOf(
  request: IncomingMessage | Http2ServerRequest,
): DeviceCertificateName | undefined {
  const cached = byConnection.get(connectionOf(request).connection);
  const name = cached?.identity.device;
  return name !== undefined && cached?.uid !== undefined ? { name, uid: cached.uid } : undefined;
}
