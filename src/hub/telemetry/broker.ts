/**
 * The hub's embedded MQTT broker (aedes): devices reach it with MQTT over
 * WebSocket on the hub's own HTTPS port, path `/mqtt`, so that it goes
 * through the same proxies and the same client-certificate authentication as
 * the API.
 *
 * The WebSocket upgrade is authenticated with the API's authenticator: a
 * device certificate is accepted only while its Device exists, and the
 * authenticator registers the TLS socket with the DeviceIndex, so deleting
 * the Device destroys the socket and with it the MQTT connection. Only
 * devices (and `system:masters`, for debugging) may connect; a device
 * publishes only under `devices/<name>/{telemetry,status,acks}/` (anything
 * else closes its connection) and subscribes only under
 * `devices/<name>/commands/`. Under its own prefix, what it sends for
 * `<ns>/<workload>` goes on only while that Workload is placed on it
 * (placed-workloads.ts); anything else is acknowledged and dropped
 * (unplaced.ts), so that neither the hub's table, the external broker nor
 * any subscriber ever sees it. The same rules (access.ts) apply to the
 * connections the MQTT-over-TLS listener hands over (`handle`), where a
 * gateway's bridge may also connect (tls-listener.ts).
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import { type Authenticator, type Identity, MASTERS_GROUP } from '../auth/index.ts';
import {
  clientIdPrefix,
  type MqttPrincipal,
  publisherFor,
  receiveAllowed,
  subscribeAllowed,
} from './access.ts';
import type { DeviceParents } from './device-parents.ts';
import type { WorkloadPlacements } from './placed-workloads.ts';
import { parseUpwardTopic } from './topics.ts';
import { DROPPED_TOPIC, UnplacedMessages } from './unplaced.ts';
import { webSocketDuplex } from './ws-duplex.ts';

/** The path devices open the WebSocket on. */
export const MQTT_PATH = '/mqtt';
/** The largest WebSocket message accepted (an MQTT packet rides in one or more). */
const MAX_WS_PAYLOAD = 1024 * 1024;
/** setTimeout's longest delay; a certificate's expiry farther away is checked again later. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Options of {@link startEmbeddedBroker}. */
export interface EmbeddedBrokerOptions {
  /** The API's authenticator (client certificates, revoked with their Device). */
  readonly authenticate: Authenticator;
  /** Which Workloads are placed on which device: what a device may send up for. */
  readonly placements: WorkloadPlacements;
  /** Which device is below which gateway: what a gateway's bridge may carry (tls-listener.ts). */
  readonly parents: DeviceParents;
  readonly logger?: Logger;
}

/** The running broker. */
export interface EmbeddedBroker {
  readonly aedes: Aedes;
  /** Serves `/mqtt` WebSocket upgrades of `server` (the hub's HTTPS server). */
  attach(server: Server): void;
  /**
   * Serves one MQTT connection authenticated elsewhere (the TLS listener) as `principal`;
   * undefined: its CONNECT is refused (not authorized).
   */
  handle(stream: Duplex, principal: MqttPrincipal | undefined): void;
  /** Messages devices sent for workloads not placed on them, dropped so far. */
  readonly dropped: number;
  /** Closes every MQTT connection and the broker. */
  close(): Promise<void>;
}

/** Starts the broker; {@link EmbeddedBroker.attach} then serves it on the hub's server. */
export async function startEmbeddedBroker(options: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  // Keyed by what aedes keeps as the client's `req`: the upgrade request, or a token per TLS connection.
  const principals = new WeakMap<object, MqttPrincipal>();
  const logger = options.logger;
  const parents = options.parents;
  const principalOf = (client: Client | null): MqttPrincipal | undefined =>
    client?.req ? principals.get(client.req) : undefined;
  const unplaced = new UnplacedMessages(logger);

  const aedes = await Aedes.createBroker({
    preConnect(client, packet, done) {
      // Each device's (and gateway's) client ids live in a space of their own: nobody can take over
      // another's connection nor its session (and the messages queued for it) by naming its id.
      const principal = principalOf(client);
      const prefix = principal ? clientIdPrefix(principal) : undefined;
      if (prefix !== undefined && packet.clientId) packet.clientId = `${prefix}${packet.clientId}`;
      done(null, true);
    },
    authenticate(client, _username, _password, done) {
      if (!principalOf(client)) return done(refusal('not authenticated', 5), false);
      done(null, true);
    },
    authorizePublish(client, packet, done) {
      // The hub's own publishes (client null) and system:masters go anywhere; never `$SYS`.
      if (packet.topic.startsWith('$SYS')) return done(new Error('$SYS topics are reserved'));
      if (client === null) return done(null);
      const principal = principalOf(client);
      if (!principal) return done(new Error('not authenticated'));
      const device = publisherFor(principal, packet.topic, parents);
      if (device === null) return done(null);
      if (device !== undefined) {
        const upward = parseUpwardTopic(packet.topic);
        if (!upward || !options.placements.placed(device, upward.namespace, upward.connector))
          unplaced.drop(device, packet);
        return done(null);
      }
      // MQTT 3.1.1 has no negative PUBACK: the connection is closed, the message dropped.
      logger?.warn(
        { ...principal, topic: packet.topic },
        'mqtt client published outside its topics: disconnected',
      );
      done(new Error(`${principal.kind} may not publish on ${packet.topic}`));
    },
    authorizeSubscribe(client, subscription, done) {
      const principal = principalOf(client);
      if (principal && subscribeAllowed(principal, subscription.topic, parents))
        return done(null, subscription);
      logger?.warn(
        { ...principal, topic: subscription.topic },
        'mqtt subscription outside its topics refused',
      );
      // Refused in the SUBACK (0x80); the connection stays.
      done(null, null);
    },
    authorizeForward(client, packet) {
      // What was dropped reaches nobody, not even a `#` subscriber of system:masters.
      if (packet.topic === DROPPED_TOPIC) return null;
      // A second line of defence: nothing but its own commands (or, for a gateway, those of the
      // live devices below it) ever reaches a client.
      const principal = principalOf(client);
      if (principal && !receiveAllowed(principal, packet.topic, parents)) return null;
      return packet;
    },
  });
  aedes.on('clientError', (client, err) => logger?.debug({ err, clientId: client.id }, 'mqtt client error'));
  aedes.on('connectionError', (client, err) =>
    logger?.debug({ err, clientId: client.id }, 'mqtt connection error'),
  );

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_WS_PAYLOAD });
  const attached: Array<{
    server: Server;
    listener: (request: IncomingMessage, socket: Duplex, head: Buffer) => void;
  }> = [];

  const onUpgrade = (server: Server, request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const [path] = (request.url ?? '').split('?', 1);
    if (path !== MQTT_PATH) {
      // Someone else's upgrade, if anyone listens for it; otherwise nobody would ever answer.
      if (server.listenerCount('upgrade') === 1) refuse(socket, 404, 'Not Found');
      return;
    }
    const identity = options.authenticate(request);
    if (!identity) return refuse(socket, 401, 'Unauthorized');
    if (identity.device === undefined && !identity.groups.includes(MASTERS_GROUP))
      return refuse(socket, 403, 'Forbidden');
    principals.set(request, principalOfIdentity(identity));
    wss.handleUpgrade(request, socket, head, (ws) => {
      const stream = webSocketDuplex(ws);
      // aedes handles the connection's errors; this keeps one from being thrown meanwhile.
      stream.on('error', () => {});
      closeAtExpiry(request.socket as TLSSocket, ws);
      aedes.handle(stream, request);
    });
  };

  return {
    aedes,
    get dropped() {
      return unplaced.dropped;
    },
    handle(stream, principal) {
      // aedes keeps what it is given as the client's `req`: a token for this connection.
      const token = {};
      if (principal) principals.set(token, principal);
      aedes.handle(stream, token as IncomingMessage);
    },
    attach(server) {
      const listener = (request: IncomingMessage, socket: Duplex, head: Buffer) =>
        onUpgrade(server, request, socket, head);
      attached.push({ server, listener });
      server.on('upgrade', listener);
    },
    async close() {
      for (const { server, listener } of attached) server.off('upgrade', listener);
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    },
  };
}

/** Ends a WebSocket when its client certificate expires (a renewed device reconnects with the new one). */
function closeAtExpiry(
  socket: TLSSocket,
  ws: { terminate(): void; once(event: 'close', fn: () => void): void },
) {
  const validTo = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate().valid_to : '';
  const notAfter = Date.parse(validTo);
  if (!Number.isFinite(notAfter)) return;
  let timer: NodeJS.Timeout;
  const check = () => {
    const left = notAfter - Date.now();
    if (left <= 0) return ws.terminate();
    timer = setTimeout(check, Math.min(left, MAX_TIMER_MS));
    timer.unref();
  };
  check();
  ws.once('close', () => clearTimeout(timer));
}

function principalOfIdentity(identity: Identity): MqttPrincipal {
  return identity.device !== undefined ? { kind: 'device', name: identity.device } : { kind: 'masters' };
}

function refusal(message: string, returnCode: number): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

function refuse(socket: Duplex, code: number, text: string): void {
  const body = `${code} ${text}\n`;
  socket.end(
    `HTTP/1.1 ${code} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  );
}
