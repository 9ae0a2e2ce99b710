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
    const { socket, lived } = http1();
    socket.once('secureConnect', () =>
      socket.write(
        'POST /api/v1/namespaces HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n',
      ),
    );
    const timer = setInterval(() => !socket.destroyed && socket.write(' '), 200);
    try {
      const ms = await lived;
      assert.ok(ms >= 1500 && ms < 5000, `closed after ${ms} ms`);
    } finally {
      clearInterval(timer);
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
