import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Backoff, RECONNECT_BACKOFF } from '../backoff.ts';
import { ReportOutbox } from './report-outbox.ts';

describe('outbox', () => {
  const dirs: string[] = [];
  const fresh = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'outpost-outbox-'));
    dirs.push(dir);
    return dir;
  };
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('keeps entries in order across a reopen, and never reuses a sequence number', async () => {
    const dir = await fresh();
    const outbox = await ReportOutbox.open({ dir });
    const a = await outbox.append('mailbox-status', { n: 1 }, true);
    const b = await outbox.append('device-status', { n: 2 }, false);
    await outbox.append('mailbox-status', { n: 3 }, false);
    const reopened = await ReportOutbox.open({ dir });
    assert.equal(reopened.size, 3);
    assert.deepEqual(reopened.peek(), a);
    await reopened.ack(a.seq);
    assert.deepEqual(reopened.peek(), b);
    await reopened.ack(b.seq);
    await reopened.ack(reopened.peek()!.seq);
    assert.equal(reopened.size, 0);
    const again = await ReportOutbox.open({ dir });
    const next = await again.append('device-status', {}, false);
    assert.equal(next.seq, 4);
    assert.deepEqual((await readdir(dir)).sort(), ['0000000000000004.json', 'next-seq']);
  });

  it('drops the oldest heartbeats first when full, never a transition, never the newest entry', async () => {
    const outbox = await ReportOutbox.open({ dir: await fresh(), maxEntries: 3 });
    await outbox.append('mailbox-status', { t: 1 }, true);
    await outbox.append('device-status', { h: 1 }, false);
    await outbox.append('device-status', { h: 2 }, false);
    await outbox.append('mailbox-status', { t: 2 }, true);
    await outbox.append('device-status', { h: 3 }, false);
    const left: unknown[] = [];
    for (let entry = outbox.peek(); entry; entry = outbox.peek()) {
      left.push(entry.status);
      await outbox.ack(entry.seq);
    }
    assert.deepEqual(left, [{ t: 1 }, { t: 2 }, { h: 3 }]);
    assert.equal(outbox.dropped, 2);
  });

  it('keeps transitions beyond the bound up to its hard cap of ten times', async () => {
    const outbox = await ReportOutbox.open({ dir: await fresh(), maxEntries: 2 });
    for (let i = 0; i < 25; i++) await outbox.append('mailbox-status', { i }, true);
    assert.equal(outbox.size, 20);
    assert.deepEqual(outbox.peek()!.status, { i: 5 });
  });
});

describe('backoff', () => {
  it('doubles up to the cap, jitters within [d(1-j), d], and starts over after a reset', () => {
    const exact = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0 });
    assert.deepEqual(
      Array.from({ length: 6 }, () => exact.next()),
      [100, 200, 400, 800, 1000, 1000],
    );
    exact.reset();
    assert.equal(exact.next(), 100);
    const low = new Backoff({ initialMs: 1000, jitter: 0.5, random: () => 0.999999 });
    const high = new Backoff({ initialMs: 1000, jitter: 0.5, random: () => 0 });
    assert.equal(low.next(), 500);
    assert.equal(high.next(), 1000);
  });

  it('spreads a fleet that lost the hub at once evenly over each window, never beyond the 60 s cap', () => {
    // 10,000 devices fail together k times; where does each one's next attempt land?
    let seed = 42;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (const failures of [0, 3, 10]) {
      const window = Math.min(60_000, 1000 * 2 ** failures);
      const buckets = new Array<number>(10).fill(0);
      for (let device = 0; device < 10_000; device++) {
        const backoff = new Backoff({ ...RECONNECT_BACKOFF, random });
        for (let i = 0; i < failures; i++) backoff.next();
        const wait = backoff.next();
        assert.ok(wait >= 0 && wait <= window, `${wait} ms within [0, ${window}]`);
        buckets[Math.min(9, Math.floor((wait / window) * 10))]!++;
      }
      // Half jitter would leave the first five tenths of the window empty.
      for (const count of buckets) assert.ok(count > 800 && count < 1200, `tenths of the window: ${buckets}`);
    }
    assert.deepEqual(RECONNECT_BACKOFF, { initialMs: 1000, maxMs: 60_000, jitter: 1 });
  });
});
