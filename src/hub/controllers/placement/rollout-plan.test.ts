import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateRollout } from '../../../api/index.ts';
import { planBatches, revisionOfBatch, snapshotOf } from './rollout-plan.ts';

const devices = ['d-4', 'd-1', 'd-3', 'd-2', 'd-5'].map((name) => ({
  name,
  labels: { site: name === 'd-2' || name === 'd-4' ? 'canary' : 'main' },
}));

function batchesOf(plan: ReturnType<typeof planBatches>): string[][] {
  const batches: string[][] = plan.sizes.map(() => []);
  for (const [name, batch] of [...plan.batchOf].sort()) batches[batch]!.push(name);
  return batches;
}

describe('rollout batches', () => {
  it('takes devices in name order by count and percentage, the rest in an implicit last batch', () => {
    const plan = planBatches({ strategy: 'Batches', batches: [{ limit: 1 }, { limit: '40%' }] }, devices);
    assert.deepEqual(batchesOf(plan), [['d-1'], ['d-2', 'd-3'], ['d-4', 'd-5']]);
    assert.deepEqual(plan.sizes, [1, 2, 2]);
  });

  it('gives a selector batch only the devices its selector matches, not taken before', () => {
    const plan = planBatches(
      { strategy: 'Batches', batches: [{ selector: { matchLabels: { site: 'canary' } } }, { limit: 2 }] },
      devices,
    );
    assert.deepEqual(batchesOf(plan), [['d-2', 'd-4'], ['d-1', 'd-3'], ['d-5']]);
  });

  it('is one batch for AllAtOnce and for no rollout strategy', () => {
    assert.deepEqual(planBatches({ strategy: 'AllAtOnce' }, devices).sizes, [5]);
    assert.deepEqual(planBatches(undefined, devices).sizes, [5]);
  });

  it('has no empty implicit batch when the listed batches take every device', () => {
    const plan = planBatches({ strategy: 'Batches', batches: [{ limit: 3 }, { limit: '100%' }] }, devices);
    assert.deepEqual(plan.sizes, [3, 2]);
  });

  it('gives released batches the update revision and the others the current one', () => {
    const status = {
      phase: 'Progressing' as const,
      currentRevision: 2,
      updateRevision: 3,
      releasedBatches: 1,
      revisions: [],
    };
    assert.equal(revisionOfBatch(status, 0), 3);
    assert.equal(revisionOfBatch(status, 1), 2);
  });

  it('hashes revisions by the Workloads specs, not by their metadata', () => {
    const w = (generation: number, image: string) => ({
      apiVersion: 'outpost.dev/v1alpha1',
      kind: 'Workload',
      metadata: { name: 'a', namespace: 'n', uid: 'u', generation },
      spec: { resources: [{ image }] },
    });
    assert.equal(snapshotOf([w(1, 'x')]).hash, snapshotOf([w(2, 'x')]).hash);
    assert.notEqual(snapshotOf([w(1, 'x')]).hash, snapshotOf([w(1, 'y')]).hash);
  });
});

describe('rollout validation', () => {
  it('refuses batch selectors that may select one device, naming the later batch', () => {
    const causes = validateRollout({
      strategy: 'Batches',
      batches: [
        { selector: { matchLabels: { site: 'a' } } },
        { selector: { matchLabels: { site: 'b' } } },
        { selector: { matchExpressions: [{ key: 'tier', operator: 'Exists' }] } },
      ],
    });
    assert.deepEqual(
      causes.map((c) => c.field),
      ['spec.rollout.batches[2].selector'],
    );
  });

  it('accepts selectors kept apart by In/NotIn and Exists/DoesNotExist', () => {
    assert.deepEqual(
      validateRollout({
        strategy: 'Batches',
        batches: [
          { selector: { matchExpressions: [{ key: 'site', operator: 'In', values: ['a', 'b'] }] } },
          { selector: { matchExpressions: [{ key: 'site', operator: 'NotIn', values: ['a', 'b'] }] } },
          { selector: { matchExpressions: [{ key: 'site', operator: 'DoesNotExist' }] } },
        ],
      }),
      [
        // NotIn [a, b] includes devices without the label, as DoesNotExist does.
        {
          reason: 'FieldValueInvalid',
          field: 'spec.rollout.batches[2].selector',
          message: 'Invalid value: overlaps the selector of batches[1] (a device could match both)',
        },
      ],
    );
  });

  it('refuses batches with the AllAtOnce strategy', () => {
    const causes = validateRollout({ strategy: 'AllAtOnce', batches: [{ limit: 1 }] });
    assert.deepEqual(
      causes.map((c) => c.field),
      ['spec.rollout.batches'],
    );
  });
});
