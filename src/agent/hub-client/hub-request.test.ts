import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import {
  type HubStandIn,
  hubStandInCertificate,
  startConnectProxy,
  startHubStandIn,
} from '../../../test/support/index.ts';
import { HubDispatcher, hubRequest, proxyFor } from './index.ts';

const hub = new URL('https://hub.example.com:6443/api');
const PROXY = 'http://proxy.site:3128';

describe('proxyFor', () => {
  it('uses HTTPS_PROXY (or https_proxy) when NO_PROXY does not name the hub', () => {
    assert.equal(proxyFor(hub, { HTTPS_PROXY: PROXY }), PROXY);
    assert.equal(proxyFor(hub, { https_proxy: PROXY, NO_PROXY: 'other.example.com,10.0.0.1' }), PROXY);
    assert.equal(proxyFor(hub, {}), undefined);
  });

  it('goes direct for the hub, its domain, a wildcard or a matching port in NO_PROXY', () => {
    for (const noProxy of [
      'hub.example.com',
      '.example.com',
      '*.example.com',
      'example.com',
      '*',
      'hub.example.com:6443',
    ])
      assert.equal(
        proxyFor(hub, { HTTPS_PROXY: PROXY, NO_PROXY: `localhost, ${noProxy}` }),
        undefined,
        noProxy,
      );
  });

  it('keeps the proxy when NO_PROXY names another port or only a suffix of a label', () => {
    assert.equal(proxyFor(hub, { HTTPS_PROXY: PROXY, NO_PROXY: 'hub.example.com:443' }), PROXY);
    assert.equal(proxyFor(hub, { HTTPS_PROXY: PROXY, no_proxy: 'ample.com' }), PROXY);
  });

  it('goes through HTTPS_PROXY for the telemetry uplink (wss:) unless NO_PROXY names the host, a parent domain or *', () => {
    const target = new URL('wss://hub.plant.example:6443/mqtt');
    const proxy = 'http://proxy:3128';
    assert.equal(proxyFor(target, {}), undefined);
    assert.equal(proxyFor(target, { HTTPS_PROXY: proxy }), proxy);
    assert.equal(proxyFor(target, { https_proxy: proxy }), proxy);
    for (const noProxy of [
      'hub.plant.example',
      '.plant.example',
      'plant.example',
      '*.example',
      '*',
      'x, hub.plant.example:6443',
    ])
      assert.equal(proxyFor(target, { HTTPS_PROXY: proxy, NO_PROXY: noProxy }), undefined, noProxy);
    for (const noProxy of ['other.example', 'hub.plant.example:443', 'ub.plant.example'])
      assert.equal(proxyFor(target, { HTTPS_PROXY: proxy, no_proxy: noProxy }), proxy, noProxy);
    assert.equal(
      proxyFor(new URL('wss://127.0.0.1:6443/mqtt'), { HTTPS_PROXY: proxy, NO_PROXY: '127.0.0.1' }),
      undefined,
    );
  });

  it('goes direct for an IPv6 hub that NO_PROXY names, bare or in brackets', () => {
    const v6 = new URL('https://[::1]:6443/api');
    for (const noProxy of ['::1', '[::1]', '[::1]:6443'])
      assert.equal(proxyFor(v6, { HTTPS_PROXY: PROXY, NO_PROXY: noProxy }), undefined, noProxy);
    assert.equal(proxyFor(v6, { HTTPS_PROXY: PROXY, NO_PROXY: '[::1]:443' }), PROXY);
  });
});

// The same behaviours over HTTP/2 (the hub, which also speaks HTTP/1.1) and over HTTP/1.1 alone
// (a hub, or something in front of it, that does not negotiate h2: the fallback).
for (const protocol of ['h2', 'http/1.1'] as const) {
  const version = protocol === 'h2' ? '2.0' : '1.1';

  describe(`hubRequest to a hub speaking ${protocol === 'h2' ? 'HTTP/2 and HTTP/1.1' : 'only HTTP/1.1'}`, () => {
    let dir: string;
    let hub: HubStandIn;
    let ca: string;

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'outpost-hub-https-'));
      ca = hubStandInCertificate(dir, 'hub');
      hub = await startHubStandIn({ protocol, dir, name: 'hub', cert: ca });
    });

    after(async () => {
      await hub.close();
      await rm(dir, { recursive: true, force: true });
    });

    it(`sends a request over HTTP/${version} and reads the answer, verifying the hub with the CA`, async () => {
      const dispatcher = new HubDispatcher({ ca });
      try {
        const response = await hubRequest(`${hub.url}/echo`, { method: 'POST', dispatcher, body: '{"a":1}' });
        assert.equal(response.statusCode, 200);
        assert.match(String(response.headers['content-type'] ?? response.headers.date), /./);
        assert.ok(!Object.keys(response.headers).some((name) => name.startsWith(':')));
        assert.deepEqual(JSON.parse(await response.body.text()), {
          method: 'POST',
          body: '{"a":1}',
          version,
        });
      } finally {
        await dispatcher.close();
      }
    });

    it('talks to the hub unverified only when it has no CA (first contact)', async () => {
      const dispatcher = new HubDispatcher({});
      try {
        const response = await hubRequest(`${hub.url}/echo`, { method: 'GET', dispatcher });
        assert.equal(JSON.parse(await response.body.text()).version, version);
      } finally {
        await dispatcher.close();
      }
    });

    it('refuses a hub whose certificate the CA does not verify', async () => {
      const other = new HubDispatcher({ ca: hubStandInCertificate(dir, 'other') });
      try {
        await assert.rejects(
          hubRequest(`${hub.url}/echo`, { method: 'GET', dispatcher: other }),
          /self-signed|verify/,
        );
      } finally {
        await other.close();
      }
    });

    it('streams a request body', async () => {
      const dispatcher = new HubDispatcher({ ca });
      try {
        const body = Readable.from(
          (async function* () {
            for (let i = 0; i < 3; i++) {
              yield Buffer.from(`line ${i}\n`);
              await new Promise((resolve) => setTimeout(resolve, 20));
            }
          })(),
        );
        const response = await hubRequest(`${hub.url}/echo`, { method: 'POST', dispatcher, body });
        assert.equal(JSON.parse(await response.body.text()).body, 'line 0\nline 1\nline 2\n');
      } finally {
        await dispatcher.close();
      }
    });

    it('fails when the answer does not come within headersTimeout', async () => {
      const dispatcher = new HubDispatcher({ ca });
      try {
        await assert.rejects(
          hubRequest(`${hub.url}/silent`, { method: 'GET', dispatcher, headersTimeout: 300 }),
          /no answer from the hub within 300 ms/,
        );
      } finally {
        await dispatcher.close();
      }
    });

    it('fails the body when it stays silent longer than bodyTimeout', async () => {
      const dispatcher = new HubDispatcher({ ca });
      try {
        const response = await hubRequest(`${hub.url}/stall`, {
          method: 'GET',
          dispatcher,
          bodyTimeout: 300,
        });
        await assert.rejects(response.body.text(), /stalled for 300 ms/);
      } finally {
        await dispatcher.close();
      }
    });

    it('ends a request and its body when the signal aborts', async () => {
      const dispatcher = new HubDispatcher({ ca });
      try {
        const waiting = new AbortController();
        const pending = hubRequest(`${hub.url}/silent`, {
          method: 'GET',
          dispatcher,
          signal: waiting.signal,
        });
        setTimeout(() => waiting.abort(), 100);
        await assert.rejects(pending, { name: 'AbortError' });
        const reading = new AbortController();
        const response = await hubRequest(`${hub.url}/watch`, {
          method: 'GET',
          dispatcher,
          signal: reading.signal,
        });
        let lines = 0;
        // An AbortError over HTTP/2; node's HTTP/1.1 response fails with 'aborted'.
        await assert.rejects(async () => {
          for await (const _ of response.body) if (++lines === 3) reading.abort();
        }, /abort/);
        // The dispatcher still serves requests afterwards.
        const after = await hubRequest(`${hub.url}/echo`, { method: 'GET', dispatcher });
        assert.equal(after.statusCode, 200);
        await after.body.dump();
      } finally {
        await dispatcher.close();
      }
    });

    it('tunnels through the HTTPS_PROXY with CONNECT, read at the time of each call', async () => {
      const proxy = await startConnectProxy();
      const saved = { HTTPS_PROXY: process.env.HTTPS_PROXY, NO_PROXY: process.env.NO_PROXY };
      const dispatcher = new HubDispatcher({ ca });
      try {
        process.env.HTTPS_PROXY = proxy.url;
        delete process.env.NO_PROXY;
        for (let i = 0; i < 3; i++) {
          const response = await hubRequest(`${hub.url}/echo`, { method: 'GET', dispatcher });
          assert.equal(JSON.parse(await response.body.text()).version, version);
        }
        const host = new URL(hub.url).host;
        assert.ok(proxy.connects.length > 0 && proxy.connects.every((target) => target === host));
        const tunnels = proxy.connects.length;
        process.env.NO_PROXY = '127.0.0.1';
        const direct = await hubRequest(`${hub.url}/echo`, { method: 'GET', dispatcher });
        await direct.body.dump();
        assert.equal(proxy.connects.length, tunnels);
      } finally {
        for (const [name, value] of Object.entries(saved))
          if (value === undefined) delete process.env[name];
          else process.env[name] = value;
        await dispatcher.close();
        await proxy.close();
      }
    });
  });
}
