/**
 * Leader election between replicas that share one store: two (or more)
 * electors on one real SQLite store, with a manual clock that the test moves
 * only once every elector is idle (asleep, no read or write in flight).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ALL_KINDS, KindRegistry, type LeaseSpec, leaseKind } from '../../api/index.ts';
import { ManualClock } from '../../controller/index.ts';
import { SqliteStore } from '../../store/index.ts';
import { ObjectService, parse } from '../kube-api/index.ts';
import { CONTROLLER_LEASE, LeaderElector, type LeaseLock, objectServiceLeaseLock } from './index.ts';

const TEMP_ROOT = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
const LEASE = 15_000;
const RENEW_DEADLINE = 10_000;
const RETRY = 2_000;
const STEP = 100;

/**
 * The real lease lock, counting reads and writes in flight so that the test knows when the
 * electors are idle, and able to cut this replica off from the store (its calls never answer).
 */
class ReplicaLock implements LeaseLock {
  busy = 0;
  cutOff = false;
  readonly #inner: LeaseLock;
  constructor(inner: LeaseLock) {
    this.#inner = inner;
  }
  get description() {
    return this.#inner.description;
  }
  #call<T>(operation: () => Promise<T>): Promise<T> {
    if (this.cutOff) return new Promise<T>(() => {});
    this.busy++;
    return operation().finally(() => this.busy--);
  }
  get: LeaseLock['get'] = () => this.#call(() => this.#inner.get());
  create: LeaseLock['create'] = (record) => this.#call(() => this.#inner.create(record));
  update: LeaseLock['update'] = (record, rv) => this.#call(() => this.#inner.update(record, rv));
}

interface Replica {
  readonly name: string;
  readonly elector: LeaderElector;
  readonly lock: ReplicaLock;
  readonly stop: AbortController;
  readonly stopped: Promise<void>;
  /** Simulated times at which its controllers started and stopped. */
  readonly started: number[];
  readonly ended: number[];
  running: boolean;
}

describe('leader election through a Lease', () => {
  let dir: string;
  let store: SqliteStore;
  let service: ObjectService;
  let clock: ManualClock;
  let replicas: Replica[];

  beforeEach(async () => {
    dir = await mkdtemp(join(TEMP_ROOT, 'outpost-leader-'));
    store = new SqliteStore({ path: join(dir, 'hub.db'), synchronous: 'NORMAL' });
    service = new ObjectService({ store, registry: new KindRegistry(ALL_KINDS) });
    const namespaceKind = service.registry.byKind('v1', 'Namespace')!;
    await service.create(
      namespaceKind,
      undefined,
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: CONTROLLER_LEASE.namespace } },
      { fieldManager: 'test' },
    );
    clock = new ManualClock();
    replicas = [];
  });

  afterEach(async () => {
    for (const replica of replicas) {
      replica.lock.cutOff = false;
      replica.stop.abort();
    }
    await Promise.race([
      Promise.all(replicas.map((replica) => replica.stopped)),
      new Promise((resolve) => setTimeout(resolve, 2000)),
    ]);
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  function startReplica(name: string, options: { releaseOnStop?: boolean } = {}): Replica {
    const lock = new ReplicaLock(
      objectServiceLeaseLock(service, CONTROLLER_LEASE.namespace, CONTROLLER_LEASE.name),
    );
    const started: number[] = [];
    const ended: number[] = [];
    const replica: Replica = {
      name,
      lock,
      started,
      ended,
      running: false,
      stop: new AbortController(),
      stopped: Promise.resolve(),
      elector: new LeaderElector({
        lock,
        identity: name,
        clock,
        random: () => 0.5,
        releaseOnStop: options.releaseOnStop,
        whileLeading: (signal) =>
          new Promise<void>((resolve) => {
            started.push(clock.now());
            replica.running = true;
            signal.addEventListener('abort', () => {
              replica.running = false;
              ended.push(clock.now());
              resolve();
            });
          }),
      }),
    };
    (replica as { stopped: Promise<void> }).stopped = replica.elector.run(replica.stop.signal);
    replicas.push(replica);
    return replica;
  }

  /** Waits (in real time) until no elector has a read or write in flight and every live one sleeps. */
  async function settle(): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const live = replicas.filter((r) => !r.stop.signal.aborted && !r.lock.cutOff);
      const busy = replicas.some((r) => !r.lock.cutOff && r.lock.busy > 0);
      if (!busy && clock.pending >= live.length) {
        // One more turn, for continuations queued behind the last answer.
        await new Promise((resolve) => setTimeout(resolve, 2));
        if (!replicas.some((r) => !r.lock.cutOff && r.lock.busy > 0)) return;
      }
      if (Date.now() > deadline) throw new Error('electors did not settle');
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  /** Moves simulated time forward in small steps, checking after each that at most one replica leads. */
  async function runFor(ms: number, until?: () => boolean): Promise<void> {
    const end = clock.now() + ms;
    while (clock.now() < end) {
      await settle();
      assertAtMostOneLeader();
      if (until?.()) return;
      clock.advance(STEP);
    }
    await settle();
    assertAtMostOneLeader();
  }

  function assertAtMostOneLeader(): void {
    const running = replicas.filter((r) => r.running).map((r) => r.name);
    assert.ok(running.length <= 1, `controllers run on ${running.join(' and ')} at ${clock.now()} ms`);
  }

  const leaders = () => replicas.filter((r) => r.running).map((r) => r.name);

  async function lease(): Promise<LeaseSpec> {
    const stored = await service.get(leaseKind, CONTROLLER_LEASE.namespace, CONTROLLER_LEASE.name);
    return parse(stored).spec as LeaseSpec;
  }

  it('lets exactly one of two replicas started together lead, and keeps it leading', async () => {
    const a = startReplica('replica-a');
    const b = startReplica('replica-b');
    await runFor(60_000);
    assert.equal(leaders().length, 1);
    const [leader] = replicas.filter((r) => r.running);
    assert.equal(leader!.started.length, 1, 'the leader started its controllers once');
    assert.equal(leader!.ended.length, 0, 'the leader never lost the lease');
    assert.equal(a.started.length + b.started.length, 1, 'the other replica never started its controllers');
    const spec = await lease();
    assert.equal(spec.holderIdentity, leader!.name);
    assert.equal(spec.leaseDurationSeconds, 15);
    assert.equal(spec.leaseTransitions, 0);
    assert.match(spec.renewTime!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    assert.equal(leader!.elector.status().leading, true);
    assert.equal(replicas.find((r) => !r.running)!.elector.status().holder, leader!.name);
  });

  it('lets another replica take over only once the crashed leader’s lease has expired', async () => {
    const a = startReplica('replica-a', { releaseOnStop: false });
    await runFor(1_000, () => a.running);
    const b = startReplica('replica-b');
    await runFor(10_000);
    assert.deepEqual(leaders(), ['replica-a']);
    // A crash: the leader stops renewing and releases nothing.
    const crashedAt = clock.now();
    a.stop.abort();
    await a.stopped;
    await runFor(30_000, () => b.running);
    assert.ok(b.running, 'replica-b took over');
    const tookOver = b.started[0]! - crashedAt;
    // The last renewal was at most one retry period before the crash, and replica-b waits a full
    // lease duration from when it saw it.
    assert.ok(tookOver >= LEASE - RETRY - STEP, `took over after ${tookOver} ms, before the lease expired`);
    assert.ok(tookOver <= LEASE + 2.2 * RETRY + STEP, `took over after ${tookOver} ms`);
    const spec = await lease();
    assert.equal(spec.holderIdentity, 'replica-b');
    assert.equal(spec.leaseTransitions, 1);
  });

  it('releases the lease on a clean stop, so that the next replica takes it at its next retry', async () => {
    const a = startReplica('replica-a');
    await runFor(1_000, () => a.running);
    const b = startReplica('replica-b');
    await runFor(4_000);
    a.stop.abort();
    await a.stopped;
    assert.equal(a.running, false);
    const released = await lease();
    assert.equal(released.holderIdentity, '');
    const stoppedAt = clock.now();
    await runFor(LEASE, () => b.running);
    assert.ok(b.running, 'replica-b took over');
    assert.ok(b.started[0]! - stoppedAt <= 2.2 * RETRY + STEP, 'replica-b took over within one retry');
    assert.equal((await lease()).leaseTransitions, 1);
  });

  it('stops the controllers of a leader cut off from the store before another replica can lead', async () => {
    const a = startReplica('replica-a');
    await runFor(1_000, () => a.running);
    const b = startReplica('replica-b');
    await runFor(5_000);
    const cutAt = clock.now();
    a.lock.cutOff = true;
    await runFor(40_000, () => b.running);
    assert.equal(a.ended.length, 1, 'replica-a stopped its controllers');
    assert.ok(a.ended[0]! - cutAt <= RENEW_DEADLINE + STEP, 'within the renew deadline');
    assert.ok(b.running, 'replica-b took over');
    assert.ok(a.ended[0]! < b.started[0]!, 'replica-a stopped before replica-b started');
    assert.equal(a.elector.status().leading, false);
  });

  it('stops leading at once when the Lease names another holder', async () => {
    const a = startReplica('replica-a');
    await runFor(1_000, () => a.running);
    // Someone else (an operator, a replica with a clock far off) wrote the Lease.
    const current = await service.get(leaseKind, CONTROLLER_LEASE.namespace, CONTROLLER_LEASE.name);
    const object = parse(current);
    (object.spec as LeaseSpec).holderIdentity = 'replica-z';
    await service.update(leaseKind, CONTROLLER_LEASE.namespace, CONTROLLER_LEASE.name, object, {
      fieldManager: 'test',
    });
    const writtenAt = clock.now();
    await runFor(RETRY + STEP, () => !a.running);
    assert.equal(a.running, false);
    assert.ok(a.ended[0]! - writtenAt <= RETRY + STEP);
  });
});
