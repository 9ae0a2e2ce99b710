/**
 * The Event recorder against a real ObjectService over SQLite, in process:
 * what an Event looks like, aggregation into one Event, the per-object and
 * global limits with their drops counted, and that recording never waits
 * for a write.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { startTestService, type TestService } from '../../../test/support/in-process/index.ts';
import { eventKind, type KubeObject } from '../../api/index.ts';
import { parse } from '../kube-api/index.ts';
import { EventRecorder, type EventRecorderOptions } from './index.ts';

interface Env {
  readonly test: TestService;
  readonly recorder: EventRecorder;
  advance(ms: number): void;
  events(): Promise<KubeObject[]>;
}

const running: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of running.splice(0)) await stop();
});

async function start(options: Partial<EventRecorderOptions> = {}): Promise<Env> {
  const test = await startTestService();
  let wall = Date.parse('2026-06-01T12:00:00Z');
  let monotonic = 0;
  const recorder = new EventRecorder({
    instance: 'hub-1',
    ...options,
    service: test.service,
    now: () => new Date(wall),
    clock: () => monotonic,
  });
  running.push(async () => {
    await recorder.close();
    await test.close();
  });
  return {
    test,
    recorder,
    advance(ms) {
      wall += ms;
      monotonic += ms;
    },
    async events() {
      const { items } = await test.service.list(eventKind, undefined, {});
      return items
        .map(parse)
        .sort((a, b) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion));
    },
  };
}

async function device(env: Env, name: string): Promise<KubeObject> {
  return parse(
    await env.test.service.create(
      env.test.service.registry.byKind('outpost.dev/v1alpha1', 'Device')!,
      undefined,
      { apiVersion: 'outpost.dev/v1alpha1', kind: 'Device', metadata: { name } },
      { fieldManager: 'test' },
    ),
  );
}

describe('the Event recorder', () => {
  it('writes an Event kubectl describe finds: the object with its uid, type, reason, source and times', async () => {
    const env = await start();
    const gw = await device(env, 'gw-1');
    // A reference without uid: the recorder reads the live object's.
    env.recorder
      .sink('outpost-device-health')
      .record(
        { apiVersion: 'outpost.dev/v1alpha1', kind: 'Device', name: 'gw-1' },
        'Warning',
        'Unreachable',
        'no heartbeat for 45 s',
      );
    await env.recorder.flush();
    const [event, ...more] = await env.events();
    assert.equal(more.length, 0);
    assert.match(event!.metadata.name!, /^gw-1\.[0-9a-f]+$/);
    assert.equal(event!.metadata.namespace, 'default', 'a cluster-scoped object has its Events in default');
    const { metadata, ...rest } = event!;
    assert.deepEqual(rest, {
      apiVersion: 'v1',
      kind: 'Event',
      involvedObject: {
        apiVersion: 'outpost.dev/v1alpha1',
        kind: 'Device',
        name: 'gw-1',
        uid: gw.metadata.uid,
      },
      reason: 'Unreachable',
      message: 'no heartbeat for 45 s',
      type: 'Warning',
      count: 1,
      firstTimestamp: '2026-06-01T12:00:00Z',
      lastTimestamp: '2026-06-01T12:00:00Z',
      eventTime: '2026-06-01T12:00:00.000000Z',
      action: 'Unreachable',
      source: { component: 'outpost-device-health' },
      reportingComponent: 'outpost-device-health',
      reportingInstance: 'hub-1',
    });
  });

  it('returns before anything is written: recording is queued, never awaited', async () => {
    const env = await start();
    const gw = await device(env, 'gw-1');
    const revision = await env.test.store.currentRevision();
    env.recorder.sink('test').record(gw, 'Normal', 'Enrolled', 'enrolled');
    assert.equal(await env.test.store.currentRevision(), revision, 'nothing written synchronously');
    await env.recorder.flush();
    assert.equal((await env.events()).length, 1);
  });

  it('aggregates the same reason, object and message within the window into one Event with a count and series', async () => {
    const env = await start({ aggregationWindowMs: 600_000 });
    const gw = await device(env, 'gw-1');
    const sink = env.recorder.sink('outpost-device-health');
    sink.record(gw, 'Warning', 'Unreachable', 'no heartbeat');
    await env.recorder.flush();
    env.advance(60_000);
    sink.record(gw, 'Warning', 'Unreachable', 'no heartbeat');
    await env.recorder.flush();
    env.advance(60_000);
    sink.record(gw, 'Warning', 'Unreachable', 'no heartbeat');
    await env.recorder.flush();
    let events = await env.events();
    assert.equal(events.length, 1);
    const [one] = events;
    assert.equal(one!.count, 3);
    assert.equal(one!.firstTimestamp, '2026-06-01T12:00:00Z');
    assert.equal(one!.lastTimestamp, '2026-06-01T12:02:00Z');
    assert.deepEqual(one!.series, { count: 3, lastObservedTime: '2026-06-01T12:02:00.000000Z' });
    // Another message is another Event; the same one past the window starts a new Event.
    sink.record(gw, 'Warning', 'Unreachable', 'no heartbeat for long');
    env.advance(601_000);
    sink.record(gw, 'Warning', 'Unreachable', 'no heartbeat');
    await env.recorder.flush();
    events = await env.events();
    assert.deepEqual(
      events.map((e) => [e.message, e.count]),
      [
        ['no heartbeat', 3],
        ['no heartbeat for long', 1],
        ['no heartbeat', 1],
      ],
    );
    assert.deepEqual(env.recorder.stats(), {
      recorded: 5,
      created: 3,
      updated: 2,
      merged: 0,
      dropped: { rateLimited: 0, globalLimit: 0, queueFull: 0, writeFailed: 0, closed: 0 },
    });
  });

  it('folds occurrences queued behind a write into that write, and counts on after an Event expired', async () => {
    const env = await start();
    const gw = await device(env, 'gw-1');
    const sink = env.recorder.sink('test');
    for (let i = 0; i < 10; i++) sink.record(gw, 'Warning', 'CrashLoopBackOff', 'restarting');
    await env.recorder.flush();
    const [event] = await env.events();
    assert.equal(event!.count, 10);
    assert.equal(env.recorder.stats().merged, 9);
    // The Event is deleted (its TTL): the next occurrence creates a new one rather than failing.
    await env.test.service.delete(eventKind, 'default', event!.metadata.name!, {});
    sink.record(gw, 'Warning', 'CrashLoopBackOff', 'restarting');
    await env.recorder.flush();
    const after = await env.events();
    assert.equal(after.length, 1);
    assert.equal(after[0]!.count, 1);
    assert.equal(env.recorder.stats().dropped.writeFailed, 0);
  });

  it('lets at most 25 occurrences of one reason on one object through, then one per 5 minutes, and counts the rest', async () => {
    const env = await start();
    const gw = await device(env, 'gw-1');
    const sink = env.recorder.sink('test');
    for (let i = 0; i < 40; i++) sink.record(gw, 'Warning', 'Failed', `attempt ${i}`);
    sink.record(gw, 'Normal', 'Online', 'back');
    await env.recorder.flush();
    assert.equal((await env.events()).length, 26, '25 Failed and the other reason');
    assert.equal(env.recorder.stats().dropped.rateLimited, 15);
    env.advance(300_000);
    sink.record(gw, 'Warning', 'Failed', 'attempt 40');
    sink.record(gw, 'Warning', 'Failed', 'attempt 41');
    await env.recorder.flush();
    assert.equal((await env.events()).length, 27, 'one token after five minutes');
    assert.equal(env.recorder.stats().dropped.rateLimited, 16);
  });

  it('caps its writes globally and bounds its queue, counting every drop', async () => {
    const env = await start({ global: { burst: 50, refillEveryMs: 1000 }, maxQueued: 30 });
    const sink = env.recorder.sink('test');
    const reference = (i: number) => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      name: `cm-${i}`,
      namespace: 'default',
    });
    for (let i = 0; i < 200; i++) sink.record(reference(i), 'Normal', 'Changed', 'changed');
    await env.recorder.flush();
    const written = (await env.events()).length;
    assert.equal(written, 30, 'no more than the queue holds at once');
    const { dropped } = env.recorder.stats();
    assert.equal(dropped.queueFull + dropped.globalLimit, 170);
    for (let i = 200; i < 300; i++) sink.record(reference(i), 'Normal', 'Changed', 'changed');
    await env.recorder.flush();
    assert.equal((await env.events()).length, 50, 'the global burst is spent');
    assert.equal(env.recorder.stats().dropped.globalLimit, 80);
    env.advance(10_000);
    for (let i = 300; i < 400; i++) sink.record(reference(i), 'Normal', 'Changed', 'changed');
    await env.recorder.flush();
    assert.equal((await env.events()).length, 60, 'ten more after ten seconds at one a second');
  });

  it('cuts long messages to 1 kB and drops what is queued when closed', async () => {
    const env = await start();
    const gw = await device(env, 'gw-1');
    const sink = env.recorder.sink('test');
    sink.record(gw, 'Warning', 'Failed', 'x'.repeat(5000));
    await env.recorder.flush();
    assert.equal(String((await env.events())[0]!.message).length, 1024);
    sink.record(gw, 'Warning', 'Other', 'queued');
    await env.recorder.close();
    sink.record(gw, 'Warning', 'Later', 'after close');
    assert.equal(env.recorder.stats().dropped.closed, 2, 'the one queued and the one after');
    assert.equal((await env.events()).length, 1);
  });
});
