import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { Backoff, type BackoffOptions } from '../backoff.ts';
import type { DeviceCredentials } from '../enrollment/index.ts';
import { proxyFor } from '../hub-client/index.ts';
import type { TelemetryOutbox } from './telemetry-outbox.ts';

/**
 * The agent's MQTT connection to the hub: MQTT 3.1.1 over a WebSocket on the
 * hub's HTTPS port (`wss://HUB/mqtt`), authenticated with the device's client
 * certificate, through `HTTPS_PROXY` unless `NO_PROXY` names the hub. In a
 * nested network, a device with a parent gateway sends to its parent's
 * broker instead (`mqtts://ADDRESS:PORT`, {@link Uplink.setBroker}, from its
 * Device's `status.nested.parentBroker`): MQTT over TLS, the same device
 * certificate, the broker's certificate checked against the hub CA and the
 * address; the parent's bridges carry the same topics on to the hub. A
 * change of target ends the session as a renewal does (what is in flight
 * acknowledged first), and the next one starts from the outbox's oldest
 * unacknowledged message: order and at-least-once hold across the switch.
 *
 * Up: the outbox's messages, in order, as `devices/<name>/<local topic>`
 * with QoS 1; a message leaves the outbox when the hub's PUBACK arrives. At
 * most `window` messages are in flight; after a reconnect, whatever was in
 * flight is sent again (at least once: the hub may see a message twice when
 * the connection dropped between its receipt and the PUBACK).
 *
 * Down: `devices/<name>/commands/#` (QoS 1) are handed to `deliver` with
 * the prefix stripped; the hub's PUBACK waits for the local delivery. The
 * session is clean: a command sent while the device was offline is not
 * replayed later (the hub's command API has timed out by then).
 *
 * Connects only once there is a reason to: a message in the outbox (one
 * left from before a restart included) or {@link Uplink.connect} (a local
 * client subscribed to commands); from then on it stays connected. Until
 * then the mqtt client is not even loaded: a device whose workloads use no
 * MQTT does not pay for it (agent-memory in docs/benchmarks.md). A command
 * the hub sends before has no subscriber on the device either way.
 *
 * Reconnects with capped exponential backoff and jitter, logging one line
 * per state change. A renewed certificate is used from the next connection,
 * which {@link Uplink.credentialsRenewed} opens once what is in flight is
 * acknowledged.
 */

/** Options of {@link Uplink}. */
export interface UplinkOptions {
  readonly device: string;
  /** The current credentials (the renewed ones once renewed). */
  readonly credentials: () => DeviceCredentials;
  readonly outbox: TelemetryOutbox;
  /** Delivers a command locally (topic without the device prefix). */
  readonly deliver: (topic: string, payload: Buffer) => Promise<void>;
  readonly log?: Pick<Logger, 'info' | 'warn' | 'debug'>;
  /** Messages in flight (sent, PUBACK pending). @default 1000 */
  readonly window?: number;
  /** @default {initialMs: 1000, maxMs: 60000} */
  readonly backoff?: BackoffOptions;
  /** Where HTTPS_PROXY / NO_PROXY are read. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
}

type State = 'connected' | 'disconnected';

/** Forwards the outbox to the hub and the hub's commands to the device. */
export class Uplink {
  readonly #options: UplinkOptions;
  readonly #window: number;
  #wake: (() => void) | undefined;
  #renew = false;
  #broker: string | undefined;
  #wanted = false;
  #state: State | undefined;

  constructor(options: UplinkOptions) {
    this.#options = options;
    this.#window = options.window ?? 1000;
    options.outbox.onAppend(() => this.#wakeUp());
  }

  /** Whether the hub connection is up. */
  get connected(): boolean {
    return this.#state === 'connected';
  }

  /** Connects from now on (and stays connected), even with nothing to send: commands are wanted. */
  connect(): void {
    if (this.#wanted) return;
    this.#wanted = true;
    this.#wakeUp();
  }

  /** Where the uplink goes: the parent gateway's broker (`mqtts://…`), or the hub's WebSocket (undefined). */
  get broker(): string | undefined {
    return this.#broker;
  }

  /**
   * Sends to a parent's broker (`mqtts://ADDRESS:PORT`) from now on, or to the hub (undefined):
   * reconnects there once what is in flight is acknowledged.
   */
  setBroker(url: string | undefined): void {
    if (url === this.#broker) return;
    this.#options.log?.info({ broker: url ?? 'hub' }, 'telemetry uplink target changed');
    this.#broker = url;
    this.credentialsRenewed();
  }

  /** Reconnects with the renewed certificate once what is in flight is acknowledged. */
  credentialsRenewed(): void {
    this.#renew = true;
    this.#wakeUp();
  }

  /** Connects and reconnects until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff({ initialMs: 1000, maxMs: 60_000, ...this.#options.backoff });
    const onAbort = () => this.#wakeUp();
    signal.addEventListener('abort', onAbort);
    try {
      while (!signal.aborted && !this.#wanted && this.#options.outbox.size === 0) await this.#sleep(60_000);
      while (!signal.aborted) {
        // A failure here (the outbox unreadable, a bad URL) is a lost connection, not the agent's end.
        const ended = await this.#session(signal).catch((error: unknown) => ({
          connected: false,
          renewed: false,
          error: (error as Error).message,
        }));
        if (signal.aborted) break;
        if (ended.renewed) continue;
        if (ended.connected) backoff.reset();
        this.#setState('disconnected', ended.error);
        // Backing off, unless told to go elsewhere (a new broker) or with a renewed certificate.
        const until = performance.now() + backoff.next();
        while (!signal.aborted && !this.#renew && performance.now() < until)
          await this.#sleep(Math.max(1, until - performance.now()));
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** One connection, from connecting to its end. */
  async #session(signal: AbortSignal): Promise<{ connected: boolean; renewed: boolean; error?: string }> {
    const { device, outbox, log } = this.#options;
    this.#renew = false; // before reading the credentials: a renewal from now on ends this session
    const credentials = this.#options.credentials();
    const broker = this.#broker;
    const url = broker ?? mqttUrlOf(credentials.hubUrl);
    // The parent's broker is on the level's own network: never through a proxy.
    const proxy = broker ? undefined : proxyFor(new URL(url), this.#options.env ?? process.env);
    // Loaded only behind a proxy: most devices never need its memory.
    const agent = proxy ? new (await import('https-proxy-agent')).HttpsProxyAgent(proxy) : undefined;
    const { default: mqtt } = await import('mqtt');
    const client: MqttClient = mqtt.connect(url, {
      protocolVersion: 4,
      clientId: `outpost-agent-${device}`,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: 15_000,
      keepalive: 30,
      // mqtt-packet's (process-wide) cache of 65,536 two-byte Buffers costs ~6 MB of heap on a device.
      writeCache: false,
      key: credentials.keyPem,
      cert: credentials.certPem,
      ca: credentials.caPem,
      ...(agent ? { wsOptions: { agent } } : {}),
    });
    const prefix = `devices/${device}/`;
    client.handleMessage = (packet, done) => {
      const topic = packet.topic.startsWith(prefix) ? packet.topic.slice(prefix.length) : packet.topic;
      const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
      this.#options.deliver(topic, payload).then(
        () => done(),
        (error: unknown) => {
          log?.warn({ err: (error as Error).message, topic }, 'cannot deliver a command locally');
          done();
        },
      );
    };
    let connected = false;
    let closed = false;
    let error: string | undefined;
    client.on('error', (err) => {
      error = err.message;
    });
    client.on('close', () => {
      closed = true;
      this.#wakeUp();
    });
    client.on('connect', () => {
      connected = true;
      this.#wakeUp();
    });
    while (!connected && !closed && !signal.aborted && !this.#renew) await this.#sleep();
    if (!connected || closed || signal.aborted) {
      client.end(true);
      return { connected: false, renewed: this.#renew, ...(error ? { error } : {}) };
    }
    this.#setState('connected');
    client.subscribe(`${prefix}commands/#`, { qos: 1 }, (err) => {
      if (err) log?.warn({ err: err.message }, 'cannot subscribe to the hub commands');
    });
    await outbox.rewind();
    let inflight = 0;
    const stopping = () => closed || signal.aborted || this.#renew;
    while (!stopping()) {
      const room = this.#window - inflight;
      const messages = room > 0 ? await outbox.read(room) : [];
      if (messages.length === 0) {
        await this.#sleep();
        continue;
      }
      for (const message of messages) {
        inflight++;
        client.publish(
          `${prefix}${message.topic}`,
          message.payload,
          { qos: 1, retain: message.retain },
          (err) => {
            inflight--;
            if (!err && !closed) outbox.ack(message.seq);
            this.#wakeUp();
          },
        );
      }
    }
    // Leaving on purpose (stop, renewal): let what is in flight be acknowledged first, briefly.
    const deadline = performance.now() + 5000;
    while (!closed && inflight > 0 && performance.now() < deadline) await this.#sleep(100);
    const renewed = this.#renew && !closed;
    await new Promise<void>((resolve) => client.end(closed, {}, () => resolve()));
    return { connected: true, renewed, ...(error ? { error } : {}) };
  }

  #setState(state: State, error?: string): void {
    if (state === this.#state) return;
    const { log } = this.#options;
    if (state === 'connected')
      log?.info({ broker: this.#broker ?? 'hub' }, 'hub MQTT connected: forwarding telemetry');
    else if (this.#state === 'connected')
      log?.warn({ err: error }, 'hub MQTT connection lost: telemetry is kept in the outbox');
    else
      log?.warn(
        { err: error },
        'cannot reach the hub MQTT endpoint: telemetry is kept in the outbox; retrying',
      );
    this.#state = state;
  }

  /** Waits for something to do (an append, an ack, a connection event), or `ms` at most. */
  #sleep(ms = 1000): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/** `wss://HOST:PORT/mqtt` of a hub at `https://HOST:PORT`. */
export function mqttUrlOf(hubUrl: string): string {
  const url = new URL('/mqtt', hubUrl);
  url.protocol = url.protocol === 'http:' ? 'ws:' : 'wss:';
  return url.toString();
}
