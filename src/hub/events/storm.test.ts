/**
 * A storm of device Events, in process: 2,000 devices flapping between
 * Unreachable and back, simulated by direct writes of their heartbeats (the
 * device-health controller and the recorder as the hub runs them), write a
 * bounded number of Events — the global cap's burst plus its rate over the
 * time that passed — and every occurrence not written is counted.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  type ControllersTestEnv,
  recordWrites,
  startControllersEnv,
} from '../../../test/support/in-process/index.ts';

const DEVICES = 2000;
const FLAPS = 3;
const GLOBAL = { burst: 100, refillEveryMs: 100 };

describe('an Event storm', { timeout: 300_000 }, () => {
  let env: ControllersTestEnv;
  after(() => env?.stop());

  it(`writes a bounded number of Events while ${DEVICES} devices flap ${FLAPS} times`, async () => {
    env = await startControllersEnv({ recorder: { global: GLOBAL } });
    const names = Array.from({ length: DEVICES }, (_, i) => `gw-${String(i).padStart(4, '0')}`);
    const beatAll = async () => {
      const lastHeartbeatTime = env
        .now()
        .toISOString()
        .replace(/\.\d+Z$/, 'Z');
      for (const name of names)
        await env.patch('Device', name, { status: { phase: 'Online', lastHeartbeatTime } }, undefined, true);
    };
    for (const name of names) {
      await env.create('Device', {
        apiVersion: 'outpost.dev/v1alpha1',
        kind: 'Device',
        metadata: { name },
        spec: { approved: true, heartbeat: { periodSeconds: 10 } },
      });
    }
    await beatAll();
    await env.settled();

    const writes = await recordWrites(env.test.store);
    let advancedMs = 0;
    for (let flap = 0; flap < FLAPS; flap++) {
      env.advance(31_000);
      advancedMs += 31_000;
      // Their expiry timers run on real time: look at every device now, as those timers would.
      for (const name of names) env.placement.deviceHealth.enqueue(name);
      await env.settled();
      env.advance(1_000);
      advancedMs += 1_000;
      await beatAll();
      await env.settled();
    }
    writes.stop();

    const unreachable = (await env.get('Device', names[0]!))!.status as { phase: string };
    assert.equal(unreachable.phase, 'Online', 'the devices did flap and came back');
    const stats = env.recorder.stats();
    assert.equal(stats.recorded, DEVICES * FLAPS * 2, 'every transition was recorded');
    const eventWrites = writes.writes('/core/events/').length;
    const bound = GLOBAL.burst + Math.floor(advancedMs / GLOBAL.refillEveryMs);
    assert.ok(eventWrites <= bound, `${eventWrites} Event writes, at most ${bound} allowed`);
    assert.equal(eventWrites, stats.created + stats.updated);
    const dropped = Object.values(stats.dropped).reduce((sum, n) => sum + n, 0);
    assert.ok(dropped >= stats.recorded - bound * 2, `${dropped} occurrences dropped`);
    assert.equal(
      stats.created + stats.updated + stats.merged + dropped,
      stats.recorded,
      'every occurrence is written, folded into a write, or counted as dropped',
    );
  });
});
