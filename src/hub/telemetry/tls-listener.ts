/**
 * The embedded broker served as plain MQTT over TLS (`outpost hub
 * --mqtt-tls-port N`), for what cannot speak MQTT over the hub's
 * authenticated WebSocket: a top-level gateway's Mosquitto bridges here.
 *
 * Client certificates from the hub CA are required (the TLS handshake
 * refuses anything else). Who the certificate is decides what the
 * connection may do (access.ts): a device certificate is accepted as the
 * API accepts it (its Device exists with the certificate's uid), and the
 * connection is registered with the Device index so that decommissioning
 * the device drops it; a gateway's bridge certificate (`outpost:gateway:<name>`,
 * which the API refuses) is accepted while Device `<name>` exists, carries
 * only the topics of the live devices below it, and is dropped with its
 * Device too; system:masters may do anything. Any other certificate
 * completes TLS and has its MQTT CONNECT refused (not authorized).
 */
import type { IncomingMessage } from 'node:http';
import { createServer, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import {
  type Authenticator,
  type Connection,
  GATEWAY_BRIDGE_USER_PREFIX,
  MASTERS_GROUP,
} from '../auth/index.ts';
import { peerIdentity } from '../pki/index.ts';
import type { MqttPrincipal } from './access.ts';
import type { EmbeddedBroker } from './broker.ts';
import type { DeviceParents } from './device-parents.ts';

/** Options of {@link startMqttTlsListener}. */
export interface MqttTlsListenerOptions {
  readonly broker: EmbeddedBroker;
  /** The API's authenticator (device certificates, revoked with their Device). */
  readonly authenticate: Authenticator;
  /** Which devices exist and which is below which gateway. */
  readonly parents: DeviceParents;
  /** Registers a connection under a Device name: the Device's deletion destroys it (the Device index). */
  readonly track: (device: string, connection: Connection) => void;
  /** The hub's serving key and certificate, and the CA client certificates must come from (PEM). */
  readonly key: string;
  readonly cert: string;
  readonly ca: string;
  readonly host: string;
  /** 0: a free port. */
  readonly port: number;
  readonly logger?: Logger;
}

/** The listener, listening. */
export interface MqttTlsListener {
  /** `mqtts://HOST:PORT`, the port the listener got. */
  readonly url: string;
  /** Stops listening and ends every connection. */
  close(): Promise<void>;
}

/** Listens; resolves once the port is bound. */
export async function startMqttTlsListener(options: MqttTlsListenerOptions): Promise<MqttTlsListener> {
  const sockets = new Set<TLSSocket>();
  const server = createServer(
    { key: options.key, cert: options.cert, ca: options.ca, requestCert: true, rejectUnauthorized: true },
    (socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      // aedes handles the connection's errors; this keeps one from being thrown meanwhile.
      socket.on('error', () => {});
      const principal = principalOf(socket, options);
      if (!principal) options.logger?.info({ peer: socket.remoteAddress }, 'mqtts client not authorized');
      options.broker.handle(socket, principal);
    },
  );
  server.on('tlsClientError', (err) => options.logger?.debug({ err }, 'mqtts handshake failed'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  // Listening on every address: advertised on loopback, as the hub's own URL is.
  const shown = options.host === '0.0.0.0' ? '127.0.0.1' : options.host === '::' ? '::1' : options.host;
  const host = shown.includes(':') ? `[${shown}]` : shown;
  return {
    url: `mqtts://${host}:${port}`,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Who a verified connection is; undefined when nobody the broker serves. */
function principalOf(socket: TLSSocket, options: MqttTlsListenerOptions): MqttPrincipal | undefined {
  const peer = peerIdentity(socket.getPeerCertificate());
  if (!socket.authorized || !peer) return undefined;
  if (peer.user.startsWith(GATEWAY_BRIDGE_USER_PREFIX)) {
    const gateway = peer.user.slice(GATEWAY_BRIDGE_USER_PREFIX.length);
    if (gateway === '' || !options.parents.live(gateway)) return undefined;
    options.track(gateway, socket);
    return { kind: 'gateway', name: gateway };
  }
  // As the connection's first API request would be (the authenticator registers a device's socket).
  const request = { socket, headers: {}, rawHeaders: [] } as unknown as IncomingMessage;
  const identity = options.authenticate(request);
  if (!identity) return undefined;
  if (identity.device !== undefined) return { kind: 'device', name: identity.device };
  return identity.groups.includes(MASTERS_GROUP) ? { kind: 'masters' } : undefined;
}
