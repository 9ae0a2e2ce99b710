/**
 * Slow, silent and greedy clients against a hub process over real TLS sockets: 250 connections
 * that send no ClientHello, no request, or their headers a byte a second are closed within the
 * hub's bounds (handshake 10 s, first request 10 s, headers 15 s) while kubectl stays fast; one
 * device may hold 16 watches and 16 connections, no more (429 with Retry-After for a watch).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import http2 from 'node:http2';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import type { DeviceCredentials } from '../../src/agent/enrollment/index.ts';
import {
  enrollDevice,
  type HubProcess,
  kubectl,
  removeDir,
  startHubProcess,
  waitFor,
} from '../support/index.ts';

/** The hub's defaults (CONNECTION_LIMIT_DEFAULTS), and what a loaded machine may add to them. */
const HANDSHAKE_MS = 10_000;
const FIRST_REQUEST_MS = 10_000;
const HEADERS_MS = 15_000;
/**
 * What a connection may live beyond its bound, measured by the client: 250 connections arriving
 * at once wait in the server's accept and handshake queues before its clocks start for them, and
 * the machine running the tests is shared. Most connections are within {@link TYPICAL_SLACK_MS}.
 */
const SLACK_MS = 10_000;
const TYPICAL_SLACK_MS = 5_000;
const WATCHES_PER_DEVICE = 16;
const CONNECTIONS_PER_DEVICE = 16;

/** A connection the test holds open, and when the hub closed it. */
interface Held {
  readonly kind: string;
  readonly bound: number;
  /** When the TCP connection was made (for `no ClientHello`), or the TLS handshake done. */
  opened: number;
  /** Whether its TLS handshake is done. */
  secured?: boolean;
  closed?: number;
}

describe('slow and greedy clients against a hub process', () => {
  let hub: HubProcess;
  let ca: string;
  const port = () => Number(new URL(hub.url).port);
  const dirs: string[] = [];

  before(async () => {
    hub = await startHubProcess();
    dirs.push(hub.dataDir);
    ca = await readFile(join(hub.dataDir, 'pki', 'ca.crt'), 'utf8');
  });
  after(async () => {
    await hub?.stop();
    for (const dir of dirs) await removeDir(dir);
  });

  it('closes 250 slow or silent connections within their bounds while kubectl get stays fast', async () => {
    const timedGet = async () => {
      const start = Date.now();
      const result = await kubectl(hub, ['get', 'namespaces']);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /default/);
      return Date.now() - start;
    };
    await timedGet();
    const baseline = await timedGet();
    const held: Held[] = [];
    const sockets: Array<{ destroy(): void }> = [];
    const timers: NodeJS.Timeout[] = [];
    const hold = (kind: string, bound: number, socket: net.Socket | http2.ClientHttp2Session) => {
      const entry: Held = { kind, bound, opened: Date.now() };
      held.push(entry);
      sockets.push(socket);
      socket.on('error', () => {});
      // Past the handshake the clock is the request's (250 handshakes at once take a while).
      socket.once(socket instanceof tls.TLSSocket ? 'secureConnect' : 'connect', () => {
        if (kind === 'no ClientHello') return;
        entry.opened = Date.now();
        entry.secured = true;
      });
      socket.on('close', () => {
        entry.closed ??= Date.now();
      });
      return entry;
    };
    const tlsOptions = { host: '127.0.0.1', port: port(), ca };
    for (let i = 0; i < 250; i++) {
      switch (i % 4) {
        case 0:
          // TCP only: no ClientHello ever.
          hold('no ClientHello', HANDSHAKE_MS, net.connect(port(), '127.0.0.1'));
          break;
        case 1:
          // TLS done, HTTP/1.1, and not a byte more.
          hold(
            'silent HTTP/1.1',
            FIRST_REQUEST_MS,
            tls.connect({ ...tlsOptions, ALPNProtocols: ['http/1.1'] }),
          );
          break;
        case 2: {
          // HTTP/2's preface and settings, no stream.
          const session = http2.connect(`https://127.0.0.1:${port()}`, { ca });
          hold('silent HTTP/2', FIRST_REQUEST_MS, session);
          break;
        }
        default: {
          // Slowloris: a request's headers, a byte a second, never finished.
          const socket = tls.connect({ ...tlsOptions, ALPNProtocols: ['http/1.1'] });
          hold('slow headers', HEADERS_MS, socket);
          const text = `GET /api/v1/namespaces HTTP/1.1\r\nHost: localhost\r\nX-Slow: ${'a'.repeat(100)}`;
          let sent = 0;
          socket.once('secureConnect', () => {
            const timer = setInterval(() => {
              if (socket.destroyed || sent >= text.length) return clearInterval(timer);
              socket.write(text[sent++]!);
            }, 1000);
            timers.push(timer);
          });
        }
      }
    }
    try {
      // Once their handshakes are done (a burst of 190 at once, which costs what it costs), people
      // are served as quickly as before the slow connections came.
      await waitFor('the handshakes done', () =>
        held.every((entry) => entry.kind === 'no ClientHello' || entry.secured || entry.closed !== undefined),
      );
      const open = held.filter((entry) => entry.closed === undefined).length;
      assert.ok(open >= 200, `the slow connections are open while kubectl runs (${open} of 250)`);
      const during = await timedGet();
      assert.ok(
        during <= 2 * baseline + 2000,
        `kubectl get took ${during} ms among the slow connections, ${baseline} ms before them`,
      );

      await waitFor(
        'all 250 connections closed',
        () => held.every((entry) => entry.closed !== undefined),
        HEADERS_MS + 2 * SLACK_MS,
      );
      const lives = new Map<string, number[]>();
      for (const entry of held)
        lives.set(entry.kind, [...(lives.get(entry.kind) ?? []), entry.closed! - entry.opened]);
      for (const [kind, times] of lives) {
        const sorted = times.sort((a, b) => a - b);
        const median = sorted[Math.floor(sorted.length / 2)]!;
        const bound = held.find((entry) => entry.kind === kind)!.bound;
        assert.ok(
          median <= bound + TYPICAL_SLACK_MS,
          `'${kind}' connections lived ${median} ms (median; bound ${bound} ms)`,
        );
      }
      for (const entry of held) {
        const lived = entry.closed! - entry.opened;
        assert.ok(
          lived <= entry.bound + SLACK_MS,
          `a '${entry.kind}' connection was closed after ${lived} ms (bound ${entry.bound} ms)`,
        );
      }
      // The slowloris connections were cut by the headers' deadline, not before it.
      for (const entry of held.filter((entry) => entry.kind === 'slow headers'))
        assert.ok(entry.closed! - entry.opened >= HEADERS_MS - 1000, 'slow headers closed early');
    } finally {
      for (const timer of timers) clearInterval(timer);
      for (const socket of sockets) socket.destroy();
    }
  });

  it('caps one device at 16 watches (429 with Retry-After beyond) and 16 connections', async () => {
    const device = await enrollDevice(hub, 'gw-greedy', dirs, {});
    const session = http2.connect(hub.url, { ca, cert: device.certPem, key: device.keyPem });
    session.on('error', () => {});
    try {
      const watches: http2.ClientHttp2Stream[] = [];
      for (let i = 0; i < WATCHES_PER_DEVICE; i++) {
        const { stream, status } = await openWatch(session, device);
        assert.equal(status, 200);
        watches.push(stream);
      }
      const refused = await openWatch(session, device);
      assert.equal(refused.status, 429);
      assert.equal(refused.headers['retry-after'], '1');
      const status = JSON.parse(await bodyOf(refused.stream));
      assert.equal(status.reason, 'TooManyRequests');
      assert.equal(status.details.retryAfterSeconds, 1);

      // A watch closed gives its place back.
      watches.pop()!.close();
      await waitFor('a watch accepted once another closed', async () => {
        const again = await openWatch(session, device);
        if (again.status === 200) watches.push(again.stream);
        else again.stream.close();
        return again.status === 200;
      });

      // Connections: the HTTP/2 session is one; 15 more are accepted, the next is closed at once.
      const connections: tls.TLSSocket[] = [];
      const connect = () =>
        new Promise<tls.TLSSocket>((resolve, reject) => {
          const socket = tls.connect({
            host: '127.0.0.1',
            port: port(),
            ca,
            cert: device.certPem,
            key: device.keyPem,
            ALPNProtocols: ['http/1.1'],
          });
          socket.once('secureConnect', () => resolve(socket));
          socket.once('error', reject);
        });
      try {
        for (let i = 1; i < CONNECTIONS_PER_DEVICE; i++) connections.push(await connect());
        const extra = await connect().catch(() => undefined);
        if (extra) {
          connections.push(extra);
          await waitFor(
            'the 17th connection closed',
            () => extra.destroyed || extra.readyState === 'closed',
            3000,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 500));
        assert.equal(connections.slice(0, CONNECTIONS_PER_DEVICE - 1).filter((s) => s.destroyed).length, 0);
      } finally {
        for (const socket of connections) socket.destroy();
      }
      for (const watch of watches) watch.close();
    } finally {
      session.destroy();
    }
  });
});

/** Opens a watch of the device's own Mailbox on `session`; settles with the response's status. */
function openWatch(
  session: http2.ClientHttp2Session,
  device: DeviceCredentials,
): Promise<{ stream: http2.ClientHttp2Stream; status: number; headers: http2.IncomingHttpHeaders }> {
  const path = `/apis/outpost.dev/v1alpha1/mailboxes?watch=1&fieldSelector=metadata.name%3D${device.name}`;
  const stream = session.request({ ':method': 'GET', ':path': path });
  stream.on('error', () => {});
  return new Promise((resolve, reject) => {
    stream.once('response', (headers) => resolve({ stream, status: Number(headers[':status']), headers }));
    stream.once('close', () => reject(new Error('the watch closed before its answer')));
  });
}

async function bodyOf(stream: http2.ClientHttp2Stream): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  return text;
}
