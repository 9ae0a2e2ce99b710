import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from '../../api/index.ts';
import { oomScoreAdjOf, parseQuantity, priorityOf, qosClassOf, unitRequestsOf } from '../runtime/index.ts';
import { evictionOrder } from './eviction-order.ts';
import { parseReserve, reserveBytes } from './resource-guard.ts';

type Resources = { requests?: Record<string, string>; limits?: Record<string, string> };

function pod(name: string, containers: Resources[], extra: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: {
      ...extra,
      containers: containers.map((resources, i) => ({ name: `c${i}`, command: ['true'], resources })),
    },
  };
}

const guaranteed = { limits: { memory: '64Mi', cpu: '500m' } };
const burstable = { requests: { memory: '32Mi' } };
const bestEffort = {};

describe('quantities', () => {
  it('reads binary and decimal suffixes, millis and exponents, and refuses the rest', () => {
    assert.equal(parseQuantity('128Mi'), 128 * 2 ** 20);
    assert.equal(parseQuantity('1G'), 1e9);
    assert.equal(parseQuantity('500m'), 0.5);
    assert.equal(parseQuantity('1.5Gi'), 1.5 * 2 ** 30);
    assert.equal(parseQuantity('1e3'), 1000);
    assert.equal(parseQuantity(2), 2);
    for (const bad of ['', 'Mi', '-1Mi', '12 MB', '1MiB', 'lots', null])
      assert.equal(parseQuantity(bad), undefined, String(bad));
  });

  it('reads reserves as bytes or percentages, and refuses 100% and more', () => {
    assert.deepEqual(parseReserve('256Mi'), { bytes: 256 * 2 ** 20 });
    assert.deepEqual(parseReserve('10%'), { percent: 10 });
    assert.equal(reserveBytes({ percent: 10 }, 1000), 100);
    assert.throws(() => parseReserve('100%'), /leaves nothing for workloads/);
    assert.throws(() => parseReserve('ten'), /neither a quantity of bytes/);
  });
});

describe('QoS classes (as Kubernetes defines them)', () => {
  it('Guaranteed: every container has memory and CPU limits, requests equal to them (or left to default)', () => {
    assert.equal(qosClassOf(pod('g', [guaranteed, guaranteed])), 'Guaranteed');
    assert.equal(
      qosClassOf(
        pod('g', [{ requests: { memory: '64Mi', cpu: '500m' }, limits: { memory: '64Mi', cpu: '0.5' } }]),
      ),
      'Guaranteed',
    );
  });

  it('Burstable: some request or limit, but not Guaranteed', () => {
    assert.equal(qosClassOf(pod('b', [burstable])), 'Burstable');
    assert.equal(qosClassOf(pod('b', [guaranteed, bestEffort])), 'Burstable');
    assert.equal(qosClassOf(pod('b', [{ limits: { memory: '64Mi' } }])), 'Burstable');
    assert.equal(
      qosClassOf(
        pod('b', [{ requests: { memory: '32Mi', cpu: '500m' }, limits: { memory: '64Mi', cpu: '500m' } }]),
      ),
      'Burstable',
    );
    // An init container without limits makes the pod Burstable too.
    const withInit = pod('b', [guaranteed], { initContainers: [{ name: 'init', command: ['true'] }] });
    assert.equal(qosClassOf(withInit), 'Burstable');
  });

  it('BestEffort: no memory or CPU request or limit anywhere (ephemeral storage does not count)', () => {
    assert.equal(qosClassOf(pod('e', [bestEffort, bestEffort])), 'BestEffort');
    assert.equal(qosClassOf(pod('e', [{ requests: { 'ephemeral-storage': '1Gi' } }])), 'BestEffort');
  });

  it('reads a Deployment’s template and counts requests over its replicas, init containers as their peak', () => {
    const deployment: KubeObject = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'd' },
      spec: {
        replicas: 3,
        template: {
          spec: {
            initContainers: [{ name: 'i', resources: { requests: { memory: '100Mi' } } }],
            containers: [
              { name: 'a', resources: { limits: { memory: '40Mi', cpu: '1' } } },
              { name: 'b', resources: { requests: { memory: '20Mi', cpu: '250m' } } },
            ],
          },
        },
      },
    };
    assert.equal(qosClassOf(deployment), 'Burstable');
    assert.deepEqual(unitRequestsOf(deployment), {
      memoryBytes: 3 * 100 * 2 ** 20,
      cpuMillis: 3 * 1250,
      ephemeralStorageBytes: 0,
    });
  });
});

describe('oom_score_adj (kubelet’s values)', () => {
  it('is -997 for Guaranteed and critical, 1000 for BestEffort, 1000 less the memory share for Burstable', () => {
    const capacity = 1000 * 2 ** 20;
    assert.equal(oomScoreAdjOf(pod('g', [guaranteed]), capacity), -997);
    assert.equal(
      oomScoreAdjOf(pod('c', [bestEffort], { priorityClassName: 'system-node-critical' }), capacity),
      -997,
    );
    assert.equal(oomScoreAdjOf(pod('e', [bestEffort]), capacity), 1000);
    assert.equal(oomScoreAdjOf(pod('b', [{ requests: { memory: '250Mi' } }]), capacity), 750);
    assert.equal(oomScoreAdjOf(pod('b', [{ requests: { memory: '2000Mi' } }]), capacity), 2);
    assert.equal(oomScoreAdjOf(pod('b', [{ requests: { cpu: '1' } }]), capacity), 999);
  });
});

describe('eviction order', () => {
  it('evicts lower priority first, then BestEffort before Burstable before Guaranteed', () => {
    const order = evictionOrder([
      { id: 'guaranteed', object: pod('g', [guaranteed]) },
      { id: 'burstable', object: pod('b', [burstable]) },
      { id: 'best-effort', object: pod('e', [bestEffort]) },
      { id: 'important-best-effort', object: pod('ie', [bestEffort], { priority: 1000 }) },
      { id: 'unimportant-guaranteed', object: pod('ug', [guaranteed], { priority: -10 }) },
    ]).map((c) => c.id);
    assert.deepEqual(order, [
      'unimportant-guaranteed',
      'best-effort',
      'burstable',
      'guaranteed',
      'important-best-effort',
    ]);
  });

  it('never lists critical units (system-*-critical classes, priority from 2e9)', () => {
    const order = evictionOrder([
      { id: 'node-critical', object: pod('n', [bestEffort], { priorityClassName: 'system-node-critical' }) },
      {
        id: 'cluster-critical',
        object: pod('c', [bestEffort], { priorityClassName: 'system-cluster-critical' }),
      },
      {
        id: 'plain',
        object: pod('p', [guaranteed], { priorityClassName: 'some-class-the-device-cannot-resolve' }),
      },
    ]).map((c) => c.id);
    assert.deepEqual(order, ['plain']);
    assert.equal(priorityOf(pod('x', [], { priorityClassName: 'system-node-critical' })), 2_000_001_000);
  });

  it('within one class evicts the smaller memory request first, then by id: the same order every time', () => {
    const units = [
      { id: 'b-big', object: pod('1', [{ requests: { memory: '512Mi' } }]) },
      { id: 'b-small', object: pod('2', [{ requests: { memory: '16Mi' } }]) },
      { id: 'a-small', object: pod('3', [{ requests: { memory: '16Mi' } }]) },
    ];
    const expected = ['a-small', 'b-small', 'b-big'];
    assert.deepEqual(
      evictionOrder(units).map((c) => c.id),
      expected,
    );
    assert.deepEqual(
      evictionOrder([...units].reverse()).map((c) => c.id),
      expected,
    );
  });
});
