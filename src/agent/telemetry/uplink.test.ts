import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mqttUrlOf, proxyFor } from './uplink.ts';

describe('hub MQTT address', () => {
  it('is the hub URL with the wss scheme and the /mqtt path', () => {
    assert.equal(mqttUrlOf('https://hub.example:6443'), 'wss://hub.example:6443/mqtt');
    assert.equal(mqttUrlOf('https://hub.example:6443/'), 'wss://hub.example:6443/mqtt');
  });

  it('goes through HTTPS_PROXY unless NO_PROXY names the host, a parent domain or *', () => {
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
});
