/**
 * The HTTP/2 session of a dispatcher: every request of a device on one
 * connection, and a session that fails, is revoked, gets a GOAWAY or goes
 * dead replaced by a new one on the next request.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import {
  type HubStandIn,
  hubStandInCertificate,
  startHubStandIn,
  startTcpRelay,
  waitFor,
} from '../../../test/support/index.ts';
import { HubDispatcher, hubRequest } from './index.ts';

describe('the HTTP/2 session of a dispatcher', () => {
  let dir: string;
  let hub: HubStandIn;
  let ca: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'outpost-hub-h2-'));
    ca = hubStandInCertificate(dir, 'hub');
  });

  after(() => rm(dir, { recursive: true, force: true }));

  // A hub of its own for each test: its connections and sessions are that test's alone.
  beforeEach(async () => {
    hub = await startHubStandIn({ protocol: 'h2', dir, name: 'hub', cert: ca });
  });

  afterEach(() => hub.close());

  const echo = async (dispatcher: HubDispatcher, url = hub.url) => {
    const response = await hubRequest(`${url}/echo`, { method: 'GET', dispatcher });
    return JSON.parse(await response.body.text()) as { version: string };
  };
  /** Opens a watch; `lines(n)` reads n more of its lines (one reader: a `for await` left early destroys the body). */
  const openWatch = async (dispatcher: HubDispatcher, url = hub.url) => {
    const response = await hubRequest(`${url}/watch`, { method: 'GET', dispatcher, bodyTimeout: 0 });
    const reader = response.body[Symbol.asyncIterator]();
    return {
      async lines(count: number) {
        for (let seen = 0; seen < count; ) {
          const { done, value } = await reader.next();
          if (done) throw new Error('the watch ended');
          seen += value.toString().split('\n').length - 1;
        }
      },
      end: () => response.body.destroy(),
    };
  };

  it('carries a watch, concurrent requests and a streamed upload on one connection', async () => {
    const dispatcher = new HubDispatcher({ ca });
    try {
      const watch = await openWatch(dispatcher);
      const upload = hubRequest(`${hub.url}/echo`, {
        method: 'POST',
        dispatcher,
        body: Readable.from(['a', 'b', 'c'].map((s) => Buffer.from(s))),
      });
      const answers = await Promise.all(Array.from({ length: 20 }, () => echo(dispatcher)));
      assert.ok(answers.every((answer) => answer.version === '2.0'));
      assert.equal(JSON.parse(await (await upload).body.text()).body, 'abc');
      await watch.lines(3);
      assert.equal(hub.connections(), 1);
      watch.end();
    } finally {
      await dispatcher.close();
    }
  });

  it('fails the requests of a session the hub destroys (a revocation), then opens a new one', async () => {
    const dispatcher = new HubDispatcher({ ca });
    try {
      const watch = await openWatch(dispatcher);
      await watch.lines(1);
      assert.equal(hub.sessions.size, 1);
      for (const session of hub.sessions) session.destroy();
      // Broken, not ended as a watch the hub closes.
      await assert.rejects(watch.lines(1000), (error: Error) => !/the watch ended/.test(error.message));
      assert.equal((await echo(dispatcher)).version, '2.0');
      assert.equal(hub.connections(), 2);
    } finally {
      await dispatcher.close();
    }
  });

  it('lets the open requests of a session that got GOAWAY finish and sends new ones on a new session', async () => {
    const dispatcher = new HubDispatcher({ ca });
    try {
      const watch = await openWatch(dispatcher);
      await watch.lines(1);
      const [first] = [...hub.sessions];
      first!.close(); // GOAWAY; the open stream goes on
      await waitFor('the GOAWAY to arrive', async () => (await echo(dispatcher)) && hub.connections() === 2);
      await watch.lines(3);
      watch.end();
    } finally {
      await dispatcher.close();
    }
  });

  it('notices a dead connection by PING and fails its requests, before any body timeout', async () => {
    const relay = await startTcpRelay(Number(new URL(hub.url).port));
    const dispatcher = new HubDispatcher({ ca }, { pingIntervalMs: 200 });
    try {
      const url = `https://127.0.0.1:${relay.port}`;
      const watch = await openWatch(dispatcher, url);
      await watch.lines(1);
      relay.silence();
      await assert.rejects(watch.lines(1_000_000), /did not answer a ping within 200 ms/);
    } finally {
      await dispatcher.close();
      await relay.close();
    }
  });

  it('on close, finishes the open request, then closes the connection', async () => {
    const dispatcher = new HubDispatcher({ ca });
    const slowBody = Readable.from(
      (async function* () {
        yield Buffer.from('slow ');
        await new Promise((resolve) => setTimeout(resolve, 300));
        yield Buffer.from('upload');
      })(),
    );
    const pending = hubRequest(`${hub.url}/echo`, { method: 'POST', dispatcher, body: slowBody });
    await waitFor('the session', () => hub.sessions.size === 1);
    await dispatcher.close();
    const response = await pending;
    assert.equal(JSON.parse(await response.body.text()).body, 'slow upload');
    await waitFor('the session closed', () => hub.sessions.size === 0);
  });
});

describe('a dispatcher to a hub without HTTP/2', () => {
  it('falls back to HTTP/1.1 keep-alive connections after one ALPN probe', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'outpost-hub-h1-'));
    const ca = hubStandInCertificate(dir, 'hub');
    const hub = await startHubStandIn({ protocol: 'http/1.1', dir, name: 'hub', cert: ca });
    const dispatcher = new HubDispatcher({ ca });
    try {
      for (let i = 0; i < 5; i++) {
        const response = await hubRequest(`${hub.url}/echo`, { method: 'GET', dispatcher });
        assert.equal(JSON.parse(await response.body.text()).version, '1.1');
      }
      // The probe, then one kept-alive connection for the five sequential requests.
      assert.equal(hub.connections(), 2);
    } finally {
      await dispatcher.close();
      await hub.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
