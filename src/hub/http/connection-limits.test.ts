import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import type { FastifyInstance } from 'fastify';
import { SqliteStore } from '../../store/index.ts';
import { loadOrCreatePki } from '../pki/index.ts';
import { buildHub } from './app.ts';

/** Limits short enough to watch them act; the hub's own are seconds to a minute. */
const LIMITS = {
  handshakeTimeoutMs: 1000,
  firstRequestTimeoutMs: 1000,
  headersTimeoutMs: 1500,
  requestTimeoutMs: 2000,
  idleTimeoutMs: 1500,
};

describe('connection limits of the HTTPS server', () => {
  let app: FastifyInstance;
  let store: SqliteStore;
  let dir: string;
  let ca: string;
  let port: number;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'outpost-limits-'));
    const pki = await loadOrCreatePki(dir, { hosts: [] });
    ca = pki.caCert;
    store = new SqliteStore({ path: ':memory:' });
    ({ app } = buildHub({
      store,
      authenticate: () => ({ user: 'admin', groups: ['system:masters'] }),
      version: 'test',
      https: { key: pki.serverKey, cert: pki.serverCert, ca: pki.caCert },
      connections: LIMITS,
    }));
    // A route whose body never ends by design, as the agent's answer to `outpost logs -f`.
    app.register(async (scope) => {
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', (_request, _payload, done) => done(null));
      scope.post('/test/endless', { config: { endlessBody: true, anonymous: true } }, async (request) => {
        let bytes = 0;
        for await (const chunk of request.raw) bytes += (chunk as Buffer).length;
        return { bytes };
      });
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as AddressInfo).port;
  });
  after(async () => {
    await app.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A TLS socket speaking HTTP/1.1, and a promise of how long it lived. */
  const http1 = () => {
    const opened = Date.now();
    const socket = tls.connect({ host: '127.0.0.1', port, ca, ALPNProtocols: ['http/1.1'] });
    socket.on('error', () => {});
    const lived = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - opened)));
    const received: Buffer[] = [];
    let answeredAt = Number.NaN;
    socket.on('data', (chunk: Buffer) => {
      if (received.length === 0) answeredAt = Date.now();
      received.push(chunk);
    });
    /** How long the connection stayed open after the first bytes of the answer (idle from then on). */
    const idle = lived.then(() => Date.now() - answeredAt);
    return { socket, lived, idle, received: () => Buffer.concat(received).toString() };
  };
  const h2 = () => {
    const opened = Date.now();
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca });
    session.on('error', () => {});
    const lived = new Promise<number>((resolve) => session.once('close', () => resolve(Date.now() - opened)));
    return { session, lived };
  };

  it('closes an HTTP/1.1 keep-alive connection left idle after its request', async () => {
    const { socket, idle, received } = http1();
    socket.once('secureConnect', () => socket.write('GET /livez HTTP/1.1\r\nHost: localhost\r\n\r\n'));
    // Counted from the answer, not from the connect: a handshake on a loaded machine took seconds.
    const ms = await idle;
    assert.match(received(), /^HTTP\/1\.1 200/);
    assert.ok(
      ms >= 1000 && ms < 4000,
      `closed ${ms} ms after the answer (idle timeout 1500 ms; Node's default is 5 s)`,
    );
  });

  it('closes an HTTP/2 session left idle after its request, and one that never asks', async () => {
    const used = h2();
    const stream = used.session.request({ ':path': '/livez' });
    stream.resume();
    await new Promise((resolve) => stream.once('close', resolve));
    const silent = h2();
    const [usedMs, silentMs] = await Promise.all([used.lived, silent.lived]);
    assert.ok(usedMs >= 1500 && usedMs < 4500, `idle session closed after ${usedMs} ms`);
    assert.ok(silentMs < 3500, `silent session closed after ${silentMs} ms`);
  });

  it('cuts a request whose body comes too slowly', async () => {
    const { socket, lived, received } = http1();
    let timer: NodeJS.Timeout | undefined;
    // The body's bytes only after the headers: a space written before the handshake ends would be
    // sent ahead of them (a slow handshake under load made that a 400 at once).
    socket.once('secureConnect', () => {
      socket.write(
        'POST /api/v1/namespaces HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n',
      );
      timer = setInterval(() => !socket.destroyed && socket.write(' '), 200);
    });
    try {
      const ms = await lived;
      assert.ok(ms >= 1500 && ms < 5000, `closed after ${ms} ms, answered ${JSON.stringify(received())}`);
    } finally {
      clearInterval(timer);
    }
  });

  it('answers 408 to an HTTP/2 body dripped too slowly, and grants a large body time by its length', async () => {
    const { session } = h2();
    try {
      /** POSTs a namespace whose JSON is padded to `length` bytes, sent in `pieces` every `everyMs`. */
      const post = (
        name: string,
        length: number,
        pieces: number,
        everyMs: number,
        path = '/api/v1/namespaces',
      ) => {
        const json = JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
        const body = Buffer.from(json.padEnd(length, ' '));
        const stream = session.request({
          ':method': 'POST',
          ':path': path,
          'content-type': 'application/json',
          'content-length': String(body.length),
        });
        const sent = Date.now();
        const answered = new Promise<{ status: number; ms: number; text: string }>((resolve) => {
          let status = 0;
          const chunks: Buffer[] = [];
          stream.on('response', (headers) => {
            status = Number(headers[':status']);
          });
          stream.on('data', (chunk: Buffer) => chunks.push(chunk));
          stream.on('error', () => {});
          stream.on('close', () =>
            resolve({ status, ms: Date.now() - sent, text: Buffer.concat(chunks).toString() }),
          );
        });
        const size = Math.ceil(body.length / pieces);
        let offset = 0;
        const timer = setInterval(() => {
          if (stream.closed) return clearInterval(timer);
          stream.write(body.subarray(offset, offset + size));
          offset += size;
          if (offset >= body.length) {
            clearInterval(timer);
            stream.end();
          }
        }, everyMs);
        return answered;
      };
      // 100 bytes a byte at a time, 5 a second: 20 s, far past 2 s (plus 0.1 s for its length).
      const dripped = await post('dripped', 100, 100, 200);
      assert.equal(dripped.status, 408, dripped.text);
      assert.match(dripped.text, /"reason":"Timeout"/);
      assert.ok(dripped.ms >= 1500 && dripped.ms < 6000, `answered after ${dripped.ms} ms`);
      // 6 KB at about 2 KB/s: 3 s, past the 2 s base but within the 6 s its length earns at 1 KB/s.
      const slow = await post('slow-but-honest', 6144, 6, 500);
      assert.equal(slow.status, 201, slow.text);
      assert.ok(slow.ms >= 2500, `answered after ${slow.ms} ms`);
      // A route that takes an endless body (a followed log) is out of the deadline.
      const endless = await post('unused', 100, 20, 200, '/test/endless');
      assert.equal(endless.status, 200, endless.text);
      assert.deepEqual(JSON.parse(endless.text), { bytes: 100 });
      assert.ok(endless.ms >= 3000, `answered after ${endless.ms} ms`);
    } finally {
      session.close();
    }
  });

  it('keeps quiet watches open well beyond the idle timeout, over HTTP/2 and HTTP/1.1', async () => {
    const { session, lived: sessionLived } = h2();
    const stream = session.request({ ':path': '/api/v1/namespaces?watch=1' });
    stream.resume();
    const status = await new Promise((resolve) =>
      stream.once('response', (headers) => resolve(headers[':status'])),
    );
    assert.equal(status, 200);
    const plain = http1();
    plain.socket.once('secureConnect', () =>
      plain.socket.write('GET /api/v1/namespaces?watch=1 HTTP/1.1\r\nHost: localhost\r\n\r\n'),
    );
    let sessionClosed = false;
    let socketClosed = false;
    void sessionLived.then(() => {
      sessionClosed = true;
    });
    void plain.lived.then(() => {
      socketClosed = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 3 * LIMITS.idleTimeoutMs + 500));
    assert.equal(sessionClosed, false, 'the HTTP/2 watch was closed');
    assert.equal(socketClosed, false, 'the HTTP/1.1 watch was closed');
    assert.match(plain.received(), /^HTTP\/1\.1 200/);
    // Once the watch ends, the connection is idle like any other and closed.
    stream.close();
    const ms = await sessionLived;
    assert.ok(ms < 3 * LIMITS.idleTimeoutMs + 500 + 4000, `closed ${ms} ms after it opened`);
    plain.socket.destroy();
  });
});
