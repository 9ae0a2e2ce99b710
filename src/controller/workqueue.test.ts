import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from './clock.ts';
import { ExponentialBackoff } from './rate-limiter.ts';
import { WorkQueue } from './workqueue.ts';

describe('WorkQueue', () => {
  it('queues a key added several times once', async () => {
    const queue = new WorkQueue();
    queue.add('a');
    queue.add('b');
    queue.add('a');
    assert.equal(queue.length, 2);
    assert.equal(await queue.get(), 'a');
    assert.equal(await queue.get(), 'b');
    assert.equal(queue.length, 0);
  });

  it('hands a key added while it is processed out again only after done, once', async () => {
    const queue = new WorkQueue();
    queue.add('a');
    const first = await queue.get();
    assert.equal(first, 'a');
    queue.add('a');
    queue.add('a');
    // A second worker must not get 'a' while the first holds it.
    let second: string | undefined;
    const waiting = queue.get().then((key) => {
      second = key;
    });
    await Promise.resolve();
    assert.equal(second, undefined);
    assert.equal(queue.length, 0);
    queue.done('a');
    await waiting;
    assert.equal(second, 'a');
    queue.done('a');
    assert.equal(queue.length, 0, 'the repeated adds collapse into one more processing');
  });

  it('wakes a waiting worker when a key is added', async () => {
    const queue = new WorkQueue();
    const next = queue.get();
    queue.add('x');
    assert.equal(await next, 'x');
  });

  it('delays rate-limited requeues exponentially per key and starts over after forget', async () => {
    const clock = new ManualClock();
    const queue = new WorkQueue({
      clock,
      rateLimiter: new ExponentialBackoff({ baseDelayMs: 5, maxDelayMs: 40 }),
    });
    const readyAfter = async (key: string): Promise<number> => {
      const start = clock.now();
      queue.addRateLimited(key);
      for (let waited = 0; queue.length === 0; waited++) {
        assert.ok(waited < 10_000, `${key} never became ready`);
        clock.advance(1);
      }
      const waited = clock.now() - start;
      // Take it out again, as a worker would.
      queue.done((await queue.get())!);
      return waited;
    };
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) delays.push(await readyAfter('a'));
    assert.deepEqual(delays, [5, 10, 20, 40, 40]);
    assert.equal(await readyAfter('b'), 5, 'each key has its own backoff');
    assert.equal(queue.numRequeues('a'), 5);
    queue.forget('a');
    assert.equal(queue.numRequeues('a'), 0);
    assert.equal(await readyAfter('a'), 5);
  });

  it('uses the default backoff of 5 ms doubling up to 1000 s', () => {
    const backoff = new ExponentialBackoff();
    const delays = Array.from({ length: 40 }, () => backoff.when('k'));
    assert.deepEqual(delays.slice(0, 4), [5, 10, 20, 40]);
    assert.equal(delays.at(-1), 1_000_000);
  });

  it('keeps the earliest of several delayed adds of one key', () => {
    const clock = new ManualClock();
    const queue = new WorkQueue({ clock });
    queue.addAfter('a', 100);
    queue.addAfter('a', 30);
    queue.addAfter('a', 50);
    assert.equal(queue.delayed, 1);
    clock.advance(29);
    assert.equal(queue.length, 0);
    clock.advance(1);
    assert.equal(queue.length, 1);
    clock.advance(1000);
    assert.equal(queue.length, 1, 'the later delays were dropped, not queued again');
    assert.equal(clock.pending, 0);
  });

  it('answers undefined to waiting and later workers after shutdown and ignores adds', async () => {
    const clock = new ManualClock();
    const queue = new WorkQueue({ clock });
    const waiting = queue.get();
    queue.addAfter('later', 10);
    queue.shutdown();
    assert.equal(await waiting, undefined);
    queue.add('a');
    assert.equal(await queue.get(), undefined);
    assert.equal(clock.pending, 0, 'pending delays are cancelled');
  });
});
