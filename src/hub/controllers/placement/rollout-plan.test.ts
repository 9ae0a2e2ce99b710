import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateRollout } from '../../../api/index.ts';
import { admitWithinBudget, type BudgetDeviceState, everyDeviceAdmitted } from './rollout-budget.ts';
import { planBatches, revisionOfDevice, snapshotOf } from './rollout-plan.ts';

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
    const plan = planBatches({ strategy: 'Batches', batches: [{ limit: 1 }] }, devices);
    assert.equal(revisionOfDevice(status, plan, 'd-1'), 3);
    assert.equal(revisionOfDevice(status, plan, 'd-2'), 2);
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

describe('disruption budgets', () => {
  // Two sites of five devices each; batches of four, then the rest.
  const fleet = Array.from({ length: 10 }, (_, i) => ({
    name: `e-${i}`,
    labels: { site: i % 2 === 0 ? 'even' : 'odd' },
  }));
  const rollout = {
    strategy: 'Batches' as const,
    batches: [{ limit: 4 }],
    disruptionBudget: { groupBy: ['site'], maxUnavailable: 1 },
  };
  const plan = planBatches(rollout, fleet);
  const states =
    (updated: string[], unreachable: string[] = []) =>
    (d: string): BudgetDeviceState => ({
      unreachable: unreachable.includes(d),
      holds: updated.includes(d),
      updated: updated.includes(d),
    });

  it('orders each group by batch, then name', () => {
    assert.deepEqual(plan.groups?.get('site=even'), ['e-0', 'e-2', 'e-4', 'e-6', 'e-8']);
    assert.deepEqual(plan.placeOf?.get('e-3'), { group: 'site=odd', rank: 1 });
  });

  it('admits one device per group while the one before updates, across batches', () => {
    const first = admitWithinBudget(rollout.disruptionBudget, plan, 1, {}, states([]));
    assert.deepEqual(first, { 'site=even': 1, 'site=odd': 1 });
    // Nothing ready yet: nobody more.
    assert.deepEqual(admitWithinBudget(rollout.disruptionBudget, plan, 1, first, states([])), first);
    const status = {
      phase: 'Progressing' as const,
      currentRevision: 1,
      updateRevision: 2,
      releasedBatches: 1,
      admitted: first,
      revisions: [],
    };
    assert.equal(revisionOfDevice(status, plan, 'e-0'), 2);
    assert.equal(revisionOfDevice(status, plan, 'e-2'), 1, 'released, waiting for the budget');
    const second = admitWithinBudget(rollout.disruptionBudget, plan, 1, first, states(['e-0']));
    assert.deepEqual(second, { 'site=even': 2, 'site=odd': 1 });
    // Batch 1 holds e-0..e-3: the group stops at its released devices.
    const capped = admitWithinBudget(
      rollout.disruptionBudget,
      plan,
      1,
      second,
      states(['e-0', 'e-1', 'e-2', 'e-3']),
    );
    assert.deepEqual(capped, { 'site=even': 2, 'site=odd': 2 });
    assert.equal(everyDeviceAdmitted(plan, capped), false);
    // Batch 2 released while e-3 (batch 1) still updates: odd waits for it.
    const across = admitWithinBudget(
      rollout.disruptionBudget,
      plan,
      2,
      capped,
      states(['e-0', 'e-1', 'e-2']),
    );
    assert.deepEqual(across, { 'site=even': 3, 'site=odd': 2 });
  });

  it('admits unreachable devices without taking a slot', () => {
    const admitted = admitWithinBudget(rollout.disruptionBudget, plan, 2, {}, states([], ['e-0', 'e-2']));
    assert.equal(admitted['site=even'], 3);
  });

  it('keeps minAvailable reachable devices of a group not updating', () => {
    const budget = { groupBy: ['site'], minAvailable: '60%' };
    // Five devices, three must stay available: two may update at once.
    assert.deepEqual(
      admitWithinBudget(
        budget,
        planBatches({ ...rollout, disruptionBudget: budget }, fleet),
        2,
        {},
        states([]),
      ),
      {
        'site=even': 2,
        'site=odd': 2,
      },
    );
  });

  it('starts from the devices holding the update when the budget came mid-rollout', () => {
    const admitted = admitWithinBudget(rollout.disruptionBudget, plan, 2, undefined, states(['e-0', 'e-2']));
    assert.equal(admitted['site=even'], 3);
  });
});

describe('rollout validation', () => {
  it('refuses a disruption budget with both maxUnavailable and minAvailable, or neither', () => {
    const both = validateRollout({
      disruptionBudget: { groupBy: ['site'], maxUnavailable: 1, minAvailable: 1 },
    });
    assert.deepEqual(
      both.map((c) => c.field),
      ['spec.rollout.disruptionBudget.minAvailable'],
    );
    const neither = validateRollout({ disruptionBudget: { groupBy: ['site'] } });
    assert.deepEqual(
      neither.map((c) => c.field),
      ['spec.rollout.disruptionBudget.maxUnavailable'],
    );
  });

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
