import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject, PolicyRule } from '../../api/index.ts';
import { aggregatedRules, isAggregating, sameRules } from './rbac-aggregation.ts';

const role = (
  name: string,
  labels: Record<string, string>,
  rules: PolicyRule[],
  aggregationRule?: object,
): KubeObject => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'ClusterRole',
  metadata: { name, labels },
  rules,
  ...(aggregationRule ? { aggregationRule } : {}),
});
const read = (resource: string): PolicyRule => ({ apiGroups: [''], resources: [resource], verbs: ['get'] });

describe('ClusterRole aggregation', () => {
  const team = role('team', { a: 'true' }, [read('stale')], {
    clusterRoleSelectors: [
      { matchLabels: { a: 'true' } },
      { matchExpressions: [{ key: 'b', operator: 'Exists' }] },
    ],
  });

  it('gathers the rules of the roles each selector matches, by selector then by name, each rule once', () => {
    const roles = [
      team,
      role('z-first-selector', { a: 'true' }, [read('secrets')]),
      role('b-second-selector', { b: 'x' }, [read('pods'), read('secrets')]),
      role('a-first-selector', { a: 'true' }, [read('configmaps')]),
      role('unlabelled', {}, [read('nodes')]),
    ];
    assert.deepEqual(aggregatedRules(team, roles), [read('configmaps'), read('secrets'), read('pods')]);
  });

  it('never gathers the aggregating role itself, and gathers nothing for a role without selectors', () => {
    assert.deepEqual(aggregatedRules(team, [team]), []);
    assert.equal(isAggregating(team), true);
    assert.equal(isAggregating(role('plain', {}, [])), false);
    assert.equal(isAggregating(role('empty', {}, [], { clusterRoleSelectors: [] })), false);
  });

  it('compares rule lists by content, absent and empty alike', () => {
    assert.ok(sameRules(undefined, []));
    assert.ok(sameRules([read('pods')], [{ verbs: ['get'], resources: ['pods'], apiGroups: [''] }]));
    assert.equal(sameRules([read('pods')], [read('secrets')]), false);
  });
});
