/**
 * One simulated agent: the agent's hub protocol without a runtime.
 *
 * - Its own mTLS identity and the agent's own transport (`HubDispatcher`,
 *   one HTTP/2 session per device): the watch and the heartbeats are
 *   streams of that one connection.
 * - Sync, as `MailboxSync`: list its Mailbox (`fieldSelector=metadata.name=`),
 *   watch from the list's resourceVersion with bookmarks, resume from the last
 *   version after a broken stream, relist on 410; retries with the agent's
 *   own reconnect backoff (`reconnectBackoff()`: 1 s doubling to 60 s, full jitter). No local
 *   copy on disk.
 * - Heartbeats, as `Heartbeat` + `Reporter`: every `spec.heartbeat.periodSeconds`
 *   of the Device the hub returns (15 s), on the monotonic clock, a merge
 *   PATCH of the full Device status (the agent's shape and size, with
 *   `resources.outboxSequence`) to `devices/NAME/status`; beats missed while
 *   the hub is away are queued and sent in order after it returns (retried
 *   with the same backoff, woken by the watch reconnecting), as the outbox is.
 * - The log-requests long poll, as `LogServer`: `GET /agent/v1/devices/NAME/log-requests`
 *   held by the hub for up to 25 s when nothing is asked, then asked again at
 *   once (1 s doubling to 30 s after a failure). Nothing is ever asked here:
 *   it is the standing cost of a device that serves `outpost logs`.
 * - The transport's own PINGs (every 30 s, `HubDispatcher`).
 */
import { Backoff, HubDispatcher, hubRequest, reconnectBackoff } from '../../src/agent/index.ts';
import { monotonicMs } from '../../src/util/index.ts';
import type { DeviceIdentity } from './enroll.ts';

/** What a device tells its fleet. */
export interface DeviceListener {
  /** A watch answered 200 (the device is connected). */
  up(device: SimDevice, at: number): void;
  /** The watch failed or broke (the device is disconnected and backs off). */
  down(device: SimDevice, at: number): void;
  /** A heartbeat was answered: `ms` from sending to the whole answer. */
  heartbeat(device: SimDevice, ms: number, ok: boolean, at: number): void;
  /** A watch event containing the armed marker arrived (first time per arming). */
  marker(device: SimDevice, at: number): void;
  /** A request failed: `what` says which and why. */
  failure(device: SimDevice, what: string): void;
}

/** An error Status from the hub. */
class StatusError extends Error {
  constructor(readonly code: number) {
    super(`HTTP ${code}`);
  }
}

/** A short name of a failure, for counting. */
function reason(error: unknown): string {
  if (error instanceof StatusError) return error.message;
  const e = error as { code?: string; message?: string };
  return e.code ?? e.message?.slice(0, 60) ?? String(error);
}

const API = '/apis/outpost.dev/v1alpha1';
const MAX_QUEUED_BEATS = 500;

/** The status a heartbeat sends, as `Heartbeat.report()` builds it (no workloads: no runtime). */
export function statusParts(name: string): [string, string, string] {
  const marker = '\u0000';
  const status = {
    phase: 'Online',
    lastHeartbeatTime: marker,
    conditions: [
      {
        type: 'Ready',
        status: 'True',
        reason: 'HeartbeatReceived',
        message: 'the agent is running',
        lastTransitionTime: '2026-11-23T20:00:00.000Z',
      },
    ],
    system: {
      hostname: name,
      os: 'linux',
      kernel: '6.1.0-sim',
      architecture: 'arm64',
      cpus: 4,
      memoryBytes: 2147483648,
      machineId: '0123456789abcdef0123456789abcdef',
      diskBytes: 31708938240,
      agentVersion: '0.1.0',
    },
    resources: {
      load1: 0.42,
      memoryAvailableBytes: 1288490188,
      memoryUsedBytes: 858993459,
      diskAvailableBytes: 20615843020,
      agentResidentBytes: 41943040,
      outboxSequence: marker,
    },
    workloads: [],
  };
  const text = JSON.stringify({ status });
  const [head, middle, tail] = text.split(/"\\u0000"/);
  return [`${head}"`, `"${middle}`, tail!];
}

export class SimDevice {
  readonly name: string;
  /** Whether the last watch is established. */
  connected = false;
  /** The armed marker was seen since the last arming. */
  sawMarker = false;
  readonly #origin: string;
  readonly #tls: { ca: string; cert: string; key: string };
  #dispatcher: HubDispatcher;
  /** Aborted by {@link drop}: every request of the current connection. */
  #connection = new AbortController();
  readonly #listener: DeviceListener;
  readonly #stop = new AbortController();
  // The agent's own reconnect backoff (MailboxSync's and the Reporter's).
  readonly #watchBackoff = reconnectBackoff();
  readonly #beatBackoff = reconnectBackoff();
  readonly #statusParts: [string, string, string];
  #marker: string | undefined;
  #resourceVersion: string | undefined;
  #periodMs = 15_000;
  #seq = 0;
  #queued = 0;
  #wakeSender: (() => void) | undefined;
  #beatTimer: NodeJS.Timeout | undefined;

  constructor(identity: DeviceIdentity, caPem: string, origin: string, listener: DeviceListener) {
    this.name = identity.name;
    this.#listener = listener;
    this.#statusParts = statusParts(identity.name);
    this.#origin = origin;
    this.#tls = { ca: caPem, cert: identity.certPem, key: identity.keyPem };
    this.#dispatcher = new HubDispatcher(this.#tls);
  }

  /** Starts syncing; heartbeats start after `firstBeatMs` (spread a fleet's phases). */
  start(firstBeatMs: number): void {
    void this.#sync();
    void this.#send();
    void this.#pollLogRequests();
    this.#beatTimer = setTimeout(() => this.#beat(monotonicMs()), firstBeatMs);
  }

  /** Events containing `marker` count as seen from now on (undefined disarms). */
  arm(marker: string | undefined): void {
    this.#marker = marker;
    this.sawMarker = false;
  }

  /**
   * Breaks the device's connection as a network failure would: every request on it fails
   * (the watch too), and the device reconnects on its own, with the agent's backoff.
   */
  async drop(): Promise<void> {
    const old = this.#dispatcher;
    const requests = this.#connection;
    this.#dispatcher = new HubDispatcher(this.#tls);
    this.#connection = new AbortController();
    requests.abort(new Error('connection dropped'));
    await old.close();
  }

  /** The signal of a request: the device stopping or its connection dropped. */
  #requestSignal(): AbortSignal {
    return AbortSignal.any([this.#stop.signal, this.#connection.signal]);
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    clearTimeout(this.#beatTimer);
    this.#wakeSender?.();
    await this.#dispatcher.close();
  }

  async #sync(): Promise<void> {
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      try {
        if (this.#resourceVersion === undefined) await this.#list();
        await this.#watch();
        this.#watchBackoff.reset();
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof StatusError && error.code === 410) {
          this.#listener.failure(this, 'watch: 410 Gone, relisting');
          this.#resourceVersion = undefined;
          continue;
        }
        this.#listener.failure(this, `sync: ${reason(error)}`);
        this.#setConnected(false);
        await sleep(this.#watchBackoff.next(), signal);
      }
    }
  }

  async #list(): Promise<void> {
    const response = await hubRequest(
      `${this.#origin}${API}/mailboxes?fieldSelector=metadata.name%3D${this.name}`,
      {
        method: 'GET',
        dispatcher: this.#dispatcher,
        signal: this.#requestSignal(),
      },
    );
    const text = await response.body.text();
    if (response.statusCode !== 200) throw new StatusError(response.statusCode);
    const list = JSON.parse(text) as { metadata?: { resourceVersion?: string } };
    this.#resourceVersion = list.metadata?.resourceVersion ?? '0';
  }

  async #watch(): Promise<void> {
    const response = await hubRequest(
      `${this.#origin}${API}/mailboxes?watch=1&allowWatchBookmarks=true&timeoutSeconds=300` +
        `&fieldSelector=metadata.name%3D${this.name}&resourceVersion=${this.#resourceVersion}`,
      {
        method: 'GET',
        dispatcher: this.#dispatcher,
        signal: this.#requestSignal(),
        // Bookmarks (every 10 s) keep a quiet watch from timing out.
        bodyTimeout: 120_000,
      },
    );
    if (response.statusCode !== 200) {
      await response.body.dump();
      throw new StatusError(response.statusCode);
    }
    this.#setConnected(true);
    let pending = '';
    for await (const chunk of response.body) {
      pending += (chunk as Buffer).toString('utf8');
      let newline = pending.indexOf('\n');
      while (newline >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (line.trim()) this.#event(line);
        newline = pending.indexOf('\n');
      }
    }
  }

  #event(line: string): void {
    if (this.#marker !== undefined && !this.sawMarker && line.includes(this.#marker)) {
      this.sawMarker = true;
      this.#listener.marker(this, performance.now());
    }
    const event = JSON.parse(line) as {
      type: string;
      object: { code?: number; metadata?: { resourceVersion?: string } };
    };
    if (event.type === 'ERROR') throw new StatusError(event.object.code ?? 500);
    const version = event.object.metadata?.resourceVersion;
    if (version) this.#resourceVersion = version;
  }

  #setConnected(connected: boolean): void {
    if (connected === this.connected) return;
    this.connected = connected;
    if (connected) {
      this.#listener.up(this, performance.now());
      // As `Reporter.reconnected()`: what waited for the hub goes now.
      this.#wakeSender?.();
    } else this.#listener.down(this, performance.now());
  }

  /** As `LogServer.run`: poll, and poll again when answered; back off after a failure. */
  async #pollLogRequests(): Promise<void> {
    const signal = this.#stop.signal;
    const backoff = new Backoff({ initialMs: 1000, maxMs: 30_000 });
    const path = `${this.#origin}/agent/v1/devices/${this.name}/log-requests`;
    while (!signal.aborted) {
      try {
        const response = await hubRequest(path, {
          method: 'GET',
          dispatcher: this.#dispatcher,
          // The agent's request: the transport's 30 s headers timeout, a 60 s deadline.
          signal: AbortSignal.any([this.#requestSignal(), AbortSignal.timeout(60_000)]),
        });
        await response.body.text();
        if (response.statusCode !== 200) throw new StatusError(response.statusCode);
        backoff.reset();
      } catch (error) {
        if (signal.aborted) return;
        this.#listener.failure(this, `log-requests: ${reason(error)}`);
        await sleep(backoff.next(), signal);
      }
    }
  }

  /** One heartbeat into the queue, then the next one a period after this one started. */
  #beat(started: number): void {
    if (this.#stop.signal.aborted) return;
    if (this.#queued < MAX_QUEUED_BEATS) this.#queued++;
    if (this.#beatBackoff.failures === 0) this.#wakeSender?.();
    const wait = this.#periodMs - (monotonicMs() - started);
    this.#beatTimer = setTimeout(() => this.#beat(monotonicMs()), Math.max(100, wait));
  }

  /** The one sender of queued heartbeats, in order. */
  async #send(): Promise<void> {
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      if (this.#queued === 0) {
        await new Promise<void>((resolve) => {
          this.#wakeSender = resolve;
        });
        this.#wakeSender = undefined;
        continue;
      }
      const [head, middle, tail] = this.#statusParts;
      const body = `${head}${new Date().toISOString()}${middle}${this.#seq + 1}${tail}`;
      const sent = performance.now();
      try {
        const response = await hubRequest(`${this.#origin}${API}/devices/${this.name}/status`, {
          method: 'PATCH',
          dispatcher: this.#dispatcher,
          headers: { 'content-type': 'application/merge-patch+json' },
          body,
          signal: this.#requestSignal(),
        });
        const text = await response.body.text();
        const ok = response.statusCode === 200;
        this.#listener.heartbeat(this, performance.now() - sent, ok, sent);
        if (ok) {
          this.#seq++;
          this.#queued--;
          this.#beatBackoff.reset();
          this.#takePeriod(text);
          continue;
        }
        // A refused write (4xx) is dropped, as the Reporter drops it; others are retried.
        if (response.statusCode >= 400 && response.statusCode < 500) {
          this.#queued--;
          continue;
        }
      } catch (error) {
        if (signal.aborted) return;
        this.#listener.failure(this, `heartbeat: ${reason(error)}`);
      }
      await this.#sleepUnlessWoken(this.#beatBackoff.next());
    }
  }

  /** The heartbeat period from the Device the hub answered with (a change applies from the next beat). */
  #takePeriod(text: string): void {
    try {
      const device = JSON.parse(text) as { spec?: { heartbeat?: { periodSeconds?: number } } };
      const period = device.spec?.heartbeat?.periodSeconds;
      this.#periodMs = (typeof period === 'number' && period >= 1 ? period : 15) * 1000;
    } catch {
      // keep the period
    }
  }

  #sleepUnlessWoken(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wakeSender = done;
    }).then(() => {
      this.#wakeSender = undefined;
    });
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
