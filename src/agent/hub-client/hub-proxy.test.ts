import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { splitTokenProxy, tokenWithProxy } from '../../util/index.ts';
import { checkProxyUrl, followHubProxy, loadHubProxy, proxyFor, saveHubProxy, useHubProxy } from './index.ts';

const HUB = new URL('https://hub.example:6443');

describe("the parent's proxy for the hub", () => {
  after(() => useHubProxy(undefined));

  it('rides in a token as its third part, which the hub never sees', () => {
    const token = tokenWithProxy('abcdef.0123456789abcdef', 'http://10.0.3.1:3128');
    assert.match(token, /^abcdef\.0123456789abcdef\.[A-Za-z0-9_-]+$/);
    assert.deepEqual(splitTokenProxy(token), {
      token: 'abcdef.0123456789abcdef',
      proxy: 'http://10.0.3.1:3128',
    });
    assert.deepEqual(splitTokenProxy('abcdef.0123456789abcdef'), { token: 'abcdef.0123456789abcdef' });
  });

  it('routes the hub through it ahead of HTTPS_PROXY, and NO_PROXY does not exempt the hub', () => {
    useHubProxy('http://10.0.3.1:3128');
    assert.equal(
      proxyFor(HUB, { HTTPS_PROXY: 'http://corporate:8080', NO_PROXY: '*' }),
      'http://10.0.3.1:3128',
    );
    useHubProxy(undefined);
    assert.equal(proxyFor(HUB, { HTTPS_PROXY: 'http://corporate:8080' }), 'http://corporate:8080');
  });

  it('refuses what is not http://HOST:PORT', () => {
    assert.equal(checkProxyUrl('http://10.0.3.1:3128/'), 'http://10.0.3.1:3128');
    for (const bad of ['10.0.3.1:3128', 'socks5://10.0.3.1:1080', 'http://10.0.3.1:3128/path'])
      assert.throws(() => checkProxyUrl(bad), /proxy must be/);
  });

  it('is kept in the data dir, and follows the proxy the hub names for the device', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hub-proxy-'));
    try {
      await saveHubProxy(dir, 'http://10.0.3.1:3128');
      assert.equal(await loadHubProxy(dir), 'http://10.0.3.1:3128');
      const moved = { status: { nested: { hubProxy: 'http://10.0.4.1:3128' } } };
      assert.equal(await followHubProxy(dir, moved), 'http://10.0.4.1:3128');
      assert.equal(proxyFor(HUB, {}), 'http://10.0.4.1:3128');
      assert.equal((await readFile(join(dir, 'hub-proxy'), 'utf8')).trim(), 'http://10.0.4.1:3128');
      assert.equal(await followHubProxy(dir, moved), undefined, 'unchanged: nothing written');
      assert.equal(await followHubProxy(dir, { status: {} }), undefined, 'named none: kept');
      assert.equal(await loadHubProxy(dir), 'http://10.0.4.1:3128');
    } finally {
      useHubProxy(undefined);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
