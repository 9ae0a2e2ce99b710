import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import type { MailboxObject } from '../../api/index.ts';
import { desiredStateOf } from '../reconcile/index.ts';
import type { ActualUnit, DesiredUnit } from '../runtime/index.ts';
import { ResourceGuard, type ResourceGuardOptions } from './resource-guard.ts';

const source = { namespace: 'ns', workload: 'w', placement: 'p' };
const MiB = 2 ** 20;

function unit(
  name: string,
  resources: object,
  kind: 'Pod' | 'Deployment' = 'Pod',
  hash = `h-${name}`,
): DesiredUnit {
  const podSpec = { containers: [{ name: 'main', command: ['sleep', '1'], resources }] };
  const entry: MailboxObject = {
    source: { ...source, workload: name },
    hash,
    object: (kind === 'Pod'
      ? { apiVersion: 'v1', kind, metadata: { name, namespace: 'ns' }, spec: podSpec }
      : {
          apiVersion: 'apps/v1',
          kind,
          metadata: { name, namespace: 'ns' },
          spec: { replicas: 1, template: { spec: podSpec } },
        }) as unknown as MailboxObject['object'],
  };
  return desiredStateOf([entry]).units[0]!;
}

function running(...units: DesiredUnit[]): Map<string, ActualUnit> {
  return new Map(
    units.map((u) => [
      u.id,
      {
        id: u.id,
        source: u.source,
        ref: u.ref,
        hash: u.hash,
        objectHash: u.objectHash,
        status: { phase: 'Running' },
      },
    ]),
  );
}

describe('resource guard', () => {
  let dir: string;
  let total: number;
  /** The posted `memory` (percent used) the guard reads instead of MemAvailable: the test's pressure. */
  let usedPercent = 10;
  /** The posted `disk` (percent used of the data dir's filesystem): the machine's real disk decides nothing. */
  let diskUsedPercent = 50;
  const guards: AbortController[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'outpost-guard-'));
  });
  after(async () => {
    for (const controller of guards) controller.abort();
    await rm(dir, { recursive: true, force: true });
  });

  async function guard(
    options: Partial<ResourceGuardOptions> = {},
    onChange = () => {},
  ): Promise<ResourceGuard> {
    const made = new ResourceGuard({
      dataDir: dir,
      log: pino({ level: 'silent' }),
      reserveMemory: { bytes: 256 * MiB },
      posted: (name) => (name === 'memory' ? usedPercent : diskUsedPercent),
      onChange,
      checkMs: 20,
      evictionIntervalMs: 0,
      ...options,
    });
    await made.start();
    total = made.resources!.memoryTotal;
    return made;
  }

  it('admits by requests against total memory less the reserve, in Mailbox order, keeping what runs', async () => {
    const g = await guard();
    const half = `${Math.floor((total - 256 * MiB) / 2 / MiB)}Mi`;
    const a = unit('a', { requests: { memory: half } });
    const b = unit('b', { requests: { memory: half } });
    const c = unit('c', { requests: { memory: '2Mi' } });
    const none = unit('none', {});
    const first = g.admit([a, b, c, none], new Map());
    assert.equal(first.get(c.id)?.reason, 'InsufficientMemory');
    assert.match(
      first.get(c.id)!.message,
      /^requests 2Mi of memory; the device has [\d.]+(Ki|Mi)? left for workloads/,
    );
    assert.equal(first.has(a.id) || first.has(b.id) || first.has(none.id), false);
    // `c` first in the Mailbox now, but `a` and `b` run: they keep their place, `c` still waits.
    const again = g.admit([c, a, b], running(a, b));
    assert.deepEqual([...again.keys()], [c.id]);
    // `b` gone: `c` fits.
    assert.equal(g.admit([c, a], running(a)).size, 0);
  });

  it('refuses only BestEffort units under memory pressure; a refused replacement is Pending, not evicted', async () => {
    const g = await guard();
    usedPercent = 99.9;
    await g.start();
    const bestEffort = unit('be', {});
    const burstable = unit('bu', { requests: { memory: '1Mi' } });
    const refused = g.admit([bestEffort, burstable], new Map());
    assert.equal(refused.get(bestEffort.id)?.reason, 'InsufficientMemory');
    assert.equal(refused.get(bestEffort.id)?.phase, 'Pending');
    assert.match(
      refused.get(bestEffort.id)!.message,
      /memory pressure.*\(as posted\), below --reserve-memory 256Mi/,
    );
    assert.equal(refused.has(burstable.id), false);
    // A running unit changed to ask for more than there is: its new version is refused, Pending (the
    // reconciler then leaves the old version running), never Failed as an eviction would be.
    const bigger = unit('bu', { requests: { memory: `${Math.ceil(total / MiB)}Mi` } }, 'Pod', 'h-bu-v2');
    const replacement = g.admit([bigger], running(burstable));
    assert.equal(replacement.get(bigger.id)?.phase, 'Pending');
    assert.equal(replacement.get(bigger.id)?.reason, 'InsufficientMemory');
    usedPercent = 10;
  });

  it('refuses ephemeral-storage requests past the disk reserve, and every new unit under disk pressure', async () => {
    const g = await guard({ reserveDisk: { percent: 10 } });
    const disk = g.resources!.diskTotal;
    const greedy = unit('greedy', {
      requests: { 'ephemeral-storage': `${Math.ceil((disk * 0.9) / MiB) + 1}Mi` },
    });
    const guaranteed = unit('gd', { limits: { memory: '1Mi', cpu: '10m' } });
    const refused = g.admit([greedy, guaranteed], new Map());
    assert.equal(refused.get(greedy.id)?.reason, 'InsufficientDisk');
    assert.match(
      refused.get(greedy.id)!.message,
      /of ephemeral storage; the data dir's filesystem has .* less --reserve-disk/,
    );
    assert.equal(refused.has(guaranteed.id), false);
    diskUsedPercent = 95;
    await g.start();
    const pressed = g.admit([guaranteed], new Map());
    assert.equal(pressed.get(guaranteed.id)?.reason, 'InsufficientDisk');
    assert.match(
      pressed.get(guaranteed.id)!.message,
      /disk pressure: .*\(as posted\) in the data dir's filesystem, below --reserve-disk/,
    );
    // What runs is not refused by pressure: only eviction stops it.
    assert.equal(g.admit([guaranteed], running(guaranteed)).size, 0);
    diskUsedPercent = 50;
  });

  it('evicts in order under pressure, keeps evictions across a restart, and forgets them when the Workload changes', async () => {
    let changes = 0;
    const g = await guard({}, () => changes++);
    const guaranteed = unit('g', { limits: { memory: '8Mi', cpu: '100m' } });
    const bestEffort = unit('be2', {});
    const actual = running(guaranteed, bestEffort);
    assert.equal(g.admit([guaranteed, bestEffort], actual).size, 0);
    const controller = new AbortController();
    guards.push(controller);
    const loop = g.run(controller.signal);
    usedPercent = 99.9;
    const deadline = performance.now() + 5000;
    let evicted = g.admit([guaranteed, bestEffort], actual);
    while (!evicted.has(bestEffort.id) && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      evicted = g.admit([guaranteed, bestEffort], actual);
    }
    usedPercent = 10;
    controller.abort();
    await loop;
    assert.equal(evicted.get(bestEffort.id)?.reason, 'Evicted');
    assert.equal(evicted.get(bestEffort.id)?.phase, 'Failed');
    assert.ok(changes > 0);
    // BestEffort first: the Guaranteed one is evicted only if the pressure lasted past a second eviction.
    const saved = JSON.parse(await readFile(join(dir, 'guard.json'), 'utf8')) as {
      evictions: { id: string }[];
    };
    assert.equal(saved.evictions[0]?.id, bestEffort.id);
    // A new agent on the same data dir keeps the eviction.
    const next = await guard();
    const kept = next.admit([guaranteed, bestEffort], running(guaranteed));
    assert.equal(kept.get(bestEffort.id)?.reason, 'Evicted');
    // The Workload changed (a new hash): a new start.
    const changed = unit('be2', {}, 'Pod', 'h-be2-v2');
    assert.equal(next.admit([guaranteed, changed], running(guaranteed)).has(changed.id), false);
  });

  it('lets an evicted Deployment run again after the pressure has been gone a while, not an evicted Pod', async () => {
    await rm(join(dir, 'guard.json'), { force: true });
    const g = await guard({ pressureTransitionMs: 200 });
    const deployment = unit('dep', {}, 'Deployment');
    const pod = unit('pod', { requests: { memory: '1Mi' } });
    const actual = running(deployment, pod);
    g.admit([deployment, pod], actual);
    const controller = new AbortController();
    guards.push(controller);
    const loop = g.run(controller.signal);
    usedPercent = 99.9;
    const waitUntil = async (what: string, check: () => boolean) => {
      const deadline = performance.now() + 5000;
      while (!check()) {
        if (performance.now() > deadline) throw new Error(`timed out: ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    // Deployment (BestEffort) first, then the Pod (Burstable): both evicted while the pressure lasts.
    await waitUntil('both evicted', () => g.admit([deployment, pod], actual).size === 2);
    usedPercent = 10;
    await waitUntil(
      'the Deployment admitted again',
      () => !g.admit([deployment, pod], new Map()).has(deployment.id),
    );
    assert.equal(g.admit([deployment, pod], new Map()).get(pod.id)?.reason, 'Evicted');
    controller.abort();
    await loop;
  });
});
