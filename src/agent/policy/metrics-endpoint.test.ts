import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type PostedMetric, startMetricsEndpoint } from './metrics-endpoint.ts';

/**
 * The metrics endpoint over real sockets, as programs on the device use it:
 * keep-alive connections, pipelined and split requests, chunked bodies, and
 * every refusal naming the problem.
 */

describe('metrics endpoint over HTTP', () => {
  const posted: PostedMetric[] = [];
  let endpoint: Awaited<ReturnType<typeof startMetricsEndpoint>>;

  before(async () => {
    endpoint = await startMetricsEndpoint(0, {
      post: (metrics) => posted.push(...metrics),
      read: () => ({ metrics: posted.map((m) => m.name) }),
    });
  });
  after(async () => {
    await endpoint.close();
  });

  /** A raw connection: writes what it is given, reads responses as they come. */
  async function open(): Promise<{
    socket: Socket;
    write: (text: string) => void;
    read: (n: number) => Promise<string[]>;
  }> {
    const socket = connect(endpoint.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    let received = '';
    socket.setEncoding('latin1');
    socket.on('data', (text: string) => {
      received += text;
    });
    /** The next `n` responses (heads and bodies by Content-Length). */
    const read = async (n: number) => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const responses: string[] = [];
        let rest = received;
        while (responses.length < n) {
          const end = rest.indexOf('\r\n\r\n');
          if (end < 0) break;
          const length = Number(/content-length: (\d+)/i.exec(rest.slice(0, end))?.[1] ?? 0);
          if (rest.length < end + 4 + length) break;
          responses.push(rest.slice(0, end + 4 + length));
          rest = rest.slice(end + 4 + length);
        }
        if (responses.length === n) {
          received = rest;
          return responses;
        }
        if (Date.now() > deadline) throw new Error(`no ${n} responses in: ${JSON.stringify(received)}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    };
    return { socket, write: (text) => socket.write(text, 'latin1'), read };
  }

  const post = (body: string, headers = 'Content-Type: application/json\r\n') =>
    `POST /metrics HTTP/1.1\r\nHost: localhost\r\n${headers}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

  it('answers simple POSTs, pipelined or split across writes, and 400s naming the problem', async () => {
    const { socket, write, read } = await open();
    write(post('{"value":20,"name":"cpu"}') + post('[{"name":"a","value":1},{"name":"b","value":2}]'));
    const [first, second] = await read(2);
    assert.match(first!, /^HTTP\/1\.1 204 No Content\r\n/);
    assert.match(second!, /^HTTP\/1\.1 204 No Content\r\n/);
    const split = post('{"value":7,"name":"disk"}');
    write(split.slice(0, 20));
    await new Promise((resolve) => setTimeout(resolve, 20));
    write(split.slice(20, -5));
    await new Promise((resolve) => setTimeout(resolve, 20));
    write(split.slice(-5));
    assert.match((await read(1))[0]!, /^HTTP\/1\.1 204/);
    write(post('{"value":"high","name":"cpu"}'));
    const [bad] = await read(1);
    assert.match(bad!, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.match(bad!, /\r\n\r\nbody\.value is required and must be a finite number\n$/);
    write(post('{"value":'));
    assert.match((await read(1))[0]!, /^HTTP\/1\.1 400[\s\S]*body is not JSON/);
    assert.deepEqual(
      posted.map((m) => `${m.name}=${m.value}`),
      ['cpu=20', 'a=1', 'b=2', 'disk=7'],
    );
    socket.destroy();
  });

  it('serves GETs, other headers, chunked bodies and refusals on the same connections', async () => {
    const { socket, write, read } = await open();
    write(post('{"value":1,"name":"x"}'));
    assert.match((await read(1))[0]!, /^HTTP\/1\.1 204/);
    write('GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n');
    const [got] = await read(1);
    assert.match(got!, /^HTTP\/1\.1 200 OK\r\n[\s\S]*"metrics":\[[^\]]*"x"\]/);
    write(post('{"value":2,"name":"y"}'));
    assert.match((await read(1))[0]!, /^HTTP\/1\.1 204/);
    write(post('{"value":5,"name":"v"}', 'Content-Type: application/json\r\nX-Trace: 1\r\n'));
    assert.match((await read(1))[0]!, /^HTTP\/1\.1 204/);
    write(post('{"value":3,"name":"z"}', 'Content-Type: text/plain\r\n'));
    assert.match((await read(1))[0]!, /^HTTP\/1\.1 415[\s\S]*content type text\/plain not supported/);
    socket.destroy();
    const chunked = await open();
    chunked.write(
      'POST /metrics HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n16\r\n{"value":4,"name":"w"}\r\n0\r\n\r\n',
    );
    assert.match((await chunked.read(1))[0]!, /^HTTP\/1\.1 204/);
    chunked.write('PUT /metrics HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n');
    assert.match((await chunked.read(1))[0]!, /^HTTP\/1\.1 405[\s\S]*allow: GET, POST/i);
    chunked.write('GET /other HTTP/1.1\r\nHost: localhost\r\n\r\n');
    assert.match((await chunked.read(1))[0]!, /^HTTP\/1\.1 404/);
    chunked.socket.destroy();
    assert.deepEqual(
      posted.slice(-4).map((m) => m.name),
      ['x', 'y', 'v', 'w'],
    );
  });

  it('answers fetch (keep-alive, its own headers)', async () => {
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`http://127.0.0.1:${endpoint.port}/metrics`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'f', value: i }),
      });
      assert.equal(response.status, 204);
    }
    const bad = await fetch(`http://127.0.0.1:${endpoint.port}/metrics`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: '1x', value: 1 }),
    });
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /body\.name "1x" is not a metric name/);
  });
});
