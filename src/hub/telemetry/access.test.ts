import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  clientIdPrefix,
  type MqttPrincipal,
  publisherFor,
  receiveAllowed,
  subscribeAllowed,
} from './access.ts';
import { fixedParents } from './device-parents.ts';

// enterprise (level 4) > site (3) > area (2); elsewhere is a top-level device of its own.
const parents = fixedParents({
  enterprise: undefined,
  site: 'enterprise',
  area: 'site',
  elsewhere: undefined,
});
const gateway = (name: string): MqttPrincipal => ({ kind: 'gateway', name });
const device = (name: string): MqttPrincipal => ({ kind: 'device', name });

describe("who may do what on the hub's broker", () => {
  it("lets a gateway's bridge publish the upward topics of every live device below it, and nothing else", () => {
    for (const below of ['site', 'area'])
      for (const kind of ['telemetry/ns/c/t', 'status/ns/c', 'acks/ns/c'])
        assert.equal(publisherFor(gateway('enterprise'), `devices/${below}/${kind}`, parents), below);
    for (const topic of [
      'devices/enterprise/telemetry/ns/c/t', // its own: the gateway's agent speaks for itself
      'devices/elsewhere/telemetry/ns/c/t', // not below it
      'devices/area/commands/ns/c/t', // commands go down, never up
      'devices/+/telemetry/ns/c/t',
      'devices/nobody/telemetry/ns/c/t', // no such Device (decommissioned)
      'elsewhere/area/telemetry/ns/c/t',
    ])
      assert.equal(publisherFor(gateway('enterprise'), topic, parents), undefined, topic);
    // A lower gateway carries only what is below it.
    assert.equal(publisherFor(gateway('site'), 'devices/area/telemetry/ns/c/t', parents), 'area');
    assert.equal(publisherFor(gateway('site'), 'devices/site/telemetry/ns/c/t', parents), undefined);
    // A gateway that is gone carries nothing.
    assert.equal(publisherFor(gateway('gone'), 'devices/area/telemetry/ns/c/t', parents), undefined);
  });

  it("lets a gateway's bridge subscribe and receive the commands of the devices below it only", () => {
    assert.equal(subscribeAllowed(gateway('enterprise'), 'devices/area/commands/#', parents), true);
    assert.equal(subscribeAllowed(gateway('enterprise'), 'devices/site/commands/#', parents), true);
    for (const filter of [
      '#',
      'devices/#',
      'devices/+/commands/#',
      'devices/area/#',
      'devices/area/telemetry/#',
      'devices/elsewhere/commands/#',
      'devices/enterprise/commands/#',
    ])
      assert.equal(subscribeAllowed(gateway('enterprise'), filter, parents), false, filter);
    assert.equal(receiveAllowed(gateway('enterprise'), 'devices/area/commands/ns/c/f', parents), true);
    assert.equal(receiveAllowed(gateway('enterprise'), 'devices/elsewhere/commands/ns/c/f', parents), false);
    assert.equal(receiveAllowed(gateway('enterprise'), 'devices/area/telemetry/ns/c/f', parents), false);
  });

  it('keeps a device to its own topics, on whatever path it comes', () => {
    assert.equal(publisherFor(device('area'), 'devices/area/telemetry/ns/c/t', parents), 'area');
    assert.equal(publisherFor(device('area'), 'devices/site/telemetry/ns/c/t', parents), undefined);
    // A gateway's device certificate is a device: not its children's bridge.
    assert.equal(publisherFor(device('site'), 'devices/area/telemetry/ns/c/t', parents), undefined);
    assert.equal(subscribeAllowed(device('site'), 'devices/area/commands/#', parents), false);
    assert.equal(receiveAllowed(device('site'), 'devices/area/commands/ns/c/f', parents), false);
    assert.equal(publisherFor({ kind: 'masters' }, 'anything/at/all', parents), null);
  });

  it('gives devices and gateways client ids spaces that cannot meet', () => {
    assert.equal(clientIdPrefix(device('area')), 'area/');
    assert.equal(clientIdPrefix(gateway('area')), 'gateway:area/');
    assert.equal(clientIdPrefix({ kind: 'masters' }), undefined);
  });
});

describe('the device tree', () => {
  it('walks parents up, bounded, and refuses cycles and missing links', () => {
    const cyclic = fixedParents({ a: 'b', b: 'a', c: 'missing' });
    assert.equal(cyclic.below('x', 'a'), false);
    assert.equal(cyclic.below('a', 'b'), true);
    assert.equal(cyclic.below('missing', 'c'), false);
    assert.equal(parents.below('enterprise', 'enterprise'), false);
  });
});
