import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventually } from '../../test/support/in-process/index.ts';
import { ManualClock } from './clock.ts';
import { Controller } from './controller.ts';
import { WorkQueue } from './workqueue.ts';

describe('WorkQueue.addCoalesced', () => {
  it('holds keys until the window closes, then queues each once, in the order they came', async () => {
    const clock = new ManualClock();
    const queue = new WorkQueue({ clock });
    for (const key of ['b', 'a', 'b', 'c', 'a']) queue.addCoalesced(key, 100);
    assert.equal(queue.length, 0);
    assert.equal(queue.coalesced, 3);
    assert.equal(queue.idle, false, 'held keys are work to come');
    clock.advance(60);
    queue.addCoalesced('d', 100);
    clock.advance(39);
    assert.equal(queue.length, 0, 'the window is the first add’s: 100 ms from it, not from the last');
    clock.advance(1);
    assert.equal(queue.coalesced, 0);
    assert.deepEqual(
      [await queue.get(), await queue.get(), await queue.get(), await queue.get()],
      ['b', 'a', 'c', 'd'],
    );
    for (const key of ['b', 'a', 'c', 'd']) queue.done(key);

    queue.addCoalesced('a', 30);
    assert.equal(clock.pending, 1, 'the next add opens a new window, of its own length');
    clock.advance(30);
    assert.equal(queue.length, 1);
  });

  it('does not hold back a key queued by other means, and drops held keys on shutdown', async () => {
    const clock = new ManualClock();
    const queue = new WorkQueue({ clock });
    queue.addCoalesced('a', 100);
    queue.add('a');
    assert.equal(await queue.get(), 'a');
    queue.done('a');
    clock.advance(100);
    assert.equal(queue.length, 1, 'the held request still comes: it may have been made after the plain one');

    queue.addCoalesced('b', 100);
    queue.shutdown();
    assert.equal(queue.coalesced, 0);
    assert.equal(clock.pending, 0, 'the window’s timer is cleared');
    clock.advance(100);
    assert.equal(await queue.get(), undefined);
  });
});

describe('Controller.enqueueCoalesced', () => {
  it('coalesces for costFactor times the last reconcile’s duration, at least windowMs and at most maxWindowMs', async () => {
    const clock = new ManualClock();
    const runs: string[] = [];
    let costMs = 0;
    const controller = new Controller({
      clock,
      coalesce: { windowMs: 100, costFactor: 10, maxWindowMs: 2000 },
      reconciler: {
        name: 'summary',
        async reconcile(key) {
          runs.push(key);
          clock.advance(costMs); // the reconcile "takes" costMs on the controller's clock
        },
      },
    });
    const stop = new AbortController();
    const running = controller.start(stop.signal);

    /** Asks for `keys` in a flood; returns how long they were held before being reconciled, each once. */
    const window = async (keys: string[]): Promise<number> => {
      runs.length = 0;
      for (let i = 0; i < 3; i++) for (const key of keys) controller.enqueueCoalesced(key);
      let held = 0;
      while (controller.queue.coalesced > 0) {
        clock.advance(10);
        held += 10;
      }
      await eventually(
        () => controller.queue.length === 0 && controller.queue.processing === 0,
        'reconciled',
      );
      assert.deepEqual(runs, keys, 'each key reconciled once');
      return held;
    };

    assert.equal(await window(['a', 'b']), 100, 'no reconcile yet: the minimum window');
    costMs = 30;
    await window(['a']); // the last reconcile now took 30 ms ...
    assert.equal(await window(['a', 'b']), 300, '... so the next window is ten times that');
    costMs = 500;
    await window(['a']);
    assert.equal(await window(['a']), 2000, 'capped at maxWindowMs');
    costMs = 1;
    await window(['a']);
    assert.equal(await window(['a']), 100, 'cheap again: back to the minimum');

    stop.abort();
    await running;
  });

  it('coalesces a fixed 100 ms by default', async () => {
    const clock = new ManualClock();
    const controller = new Controller({ clock, reconciler: { name: 'fixed', async reconcile() {} } });
    controller.enqueueCoalesced('a');
    clock.advance(99);
    assert.equal(controller.queue.length, 0);
    clock.advance(1);
    assert.equal(controller.queue.length, 1);
  });
});
