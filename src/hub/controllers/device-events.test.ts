/**
 * Events about devices, in process (real ObjectService over SQLite, the
 * controllers and the Event recorder on a manual clock): unreachable and
 * back, approved, Mailbox delivered, decommissioned; and Events deleted once
 * older than their TTL.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { type ControllersTestEnv, startControllersEnv } from '../../../test/support/in-process/index.ts';

const running: ControllersTestEnv[] = [];
afterEach(async () => {
  for (const env of running.splice(0)) await env.stop();
});

async function start(ttlMs?: number): Promise<ControllersTestEnv> {
  const env = await startControllersEnv({ ttlMs });
  running.push(env);
  return env;
}

const device = (name: string, approved = true) => ({
  apiVersion: 'outpost.dev/v1alpha1',
  kind: 'Device',
  metadata: { name, labels: { site: 'a' } },
  spec: { approved, heartbeat: { periodSeconds: 10 } },
});

const beat = (env: ControllersTestEnv, name: string) =>
  env.patch(
    'Device',
    name,
    {
      status: {
        phase: 'Online',
        lastHeartbeatTime: env
          .now()
          .toISOString()
          .replace(/\.\d+Z$/, 'Z'),
      },
    },
    undefined,
    true,
  );

describe('device Events', () => {
  it('tells a device unreachable after three missed heartbeats and back when they resume, on the Device', async () => {
    const env = await start();
    const gw = await env.create('Device', device('gw-1'));
    await beat(env, 'gw-1');
    await env.settled();
    env.advance(31_000);
    env.placement.deviceHealth.enqueue('gw-1');
    await env.settled();
    env.advance(1_000);
    await beat(env, 'gw-1');
    await env.settled();
    const told = await env.events({ kind: 'Device', name: 'gw-1' });
    assert.deepEqual(
      told.map((e) => [e.type, e.reason, e.message, e.source?.component]),
      [
        [
          'Warning',
          'Unreachable',
          'device gw-1 is unreachable: no heartbeat in 3 periods of 10 s',
          'outpost-device-health',
        ],
        ['Normal', 'Online', 'device gw-1 is back: heartbeats arrive again', 'outpost-device-health'],
      ],
    );
    for (const event of told) {
      assert.equal(event.involvedObject.uid, gw.metadata.uid);
      assert.equal(event.metadata.namespace, 'default');
    }
  });

  it('tells a device approved, its Mailbox delivered, and the device decommissioned', async () => {
    const env = await start();
    await env.create('Device', device('gw-2', false));
    await env.settled();
    await env.patch('Device', 'gw-2', { spec: { approved: true } });
    await env.settled();
    const mailbox = (await env.get('Mailbox', 'gw-2'))!;
    await env.patch(
      'Mailbox',
      'gw-2',
      { status: { observedGeneration: mailbox.metadata.generation, objects: [] } },
      undefined,
      true,
    );
    await env.settled();
    // The same report again (an agent restarted) is no new delivery.
    await env.patch('Mailbox', 'gw-2', { status: { objects: [] } }, undefined, true);
    await env.remove('Device', 'gw-2');
    await env.settled();
    assert.deepEqual(
      (await env.events()).map((e) => [e.involvedObject.kind, e.reason, e.message]),
      [
        ['Device', 'Approved', 'device gw-2 approved: its certificate is issued when its agent asks next'],
        ['Mailbox', 'Delivered', `device gw-2 received generation ${mailbox.metadata.generation}: 0 objects`],
        [
          'Device',
          'Decommissioned',
          'device gw-2 removed from the inventory: its certificates are refused and its Mailbox deleted',
        ],
      ],
    );
  });

  it('deletes Events once they are older than the TTL, counting from their last occurrence', async () => {
    const env = await start(60_000);
    const gw = await env.create('Device', device('gw-3'));
    const sink = env.recorder.sink('test');
    sink.record(gw, 'Normal', 'Old', 'happened once');
    sink.record(gw, 'Warning', 'Repeating', 'happens again');
    await env.settled();
    env.advance(50_000);
    sink.record(gw, 'Warning', 'Repeating', 'happens again');
    await env.settled();
    env.advance(15_000);
    // The TTL controller's timers run on real time: look again now, as its requeue would.
    for (const event of await env.events()) env.ttl.enqueue(`default/${event.metadata.name}`);
    await env.settled();
    assert.deepEqual(
      (await env.events()).map((e) => [e.reason, e.count]),
      [['Repeating', 2]],
    );
    env.advance(50_000);
    for (const event of await env.events()) env.ttl.enqueue(`default/${event.metadata.name}`);
    await env.settled();
    assert.deepEqual(await env.events(), []);
  });
});
