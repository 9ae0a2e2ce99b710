import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PolicyRule } from '../../api/index.ts';
import { breakdownRule, covers, escalationMessage, FULL_AUTHORITY } from './rbac-escalation.ts';

const rule = (verbs: string[], apiGroups: string[], resources: string[], resourceNames?: string[]) =>
  ({ verbs, apiGroups, resources, ...(resourceNames ? { resourceNames } : {}) }) satisfies PolicyRule;
const urls = (verbs: string[], nonResourceURLs: string[]) =>
  ({ verbs, nonResourceURLs }) satisfies PolicyRule;

const holds = (owner: PolicyRule[], servant: PolicyRule[]) => covers(owner, servant).covered;

describe('RBAC escalation: which rules cover which', () => {
  it('breaks a rule down into one verb, group, resource and name each', () => {
    assert.equal(breakdownRule(rule(['get', 'list'], ['', 'apps'], ['a', 'b'], ['x', 'y'])).length, 16);
    assert.deepEqual(breakdownRule(urls(['get'], ['/a', '/b'])), [
      urls(['get'], ['/a']),
      urls(['get'], ['/b']),
    ]);
  });

  it('covers with * verbs, groups and resources, but a list of verbs never covers *', () => {
    const owner = [rule(['*'], ['*'], ['*'])];
    assert.ok(holds(owner, [rule(['delete'], ['outpost.dev'], ['devices', 'devices/status'])]));
    assert.ok(holds(owner, [rule(['*'], ['*'], ['*'])]));
    const reader = [rule(['get', 'list', 'watch'], ['outpost.dev'], ['devices'])];
    assert.ok(holds(reader, [rule(['get', 'watch'], ['outpost.dev'], ['devices'])]));
    const { covered, missing } = covers(reader, [rule(['*'], ['outpost.dev'], ['devices'])]);
    assert.equal(covered, false);
    assert.deepEqual(missing, [rule(['*'], ['outpost.dev'], ['devices'])]);
    assert.equal(holds(reader, [rule(['get'], ['*'], ['devices'])]), false, 'a * group is not one group');
    assert.equal(
      holds(reader, [rule(['get'], ['outpost.dev'], ['*'])]),
      false,
      'a * resource is not one resource',
    );
  });

  it('treats subresources as resources of their own, and */status as every status', () => {
    const main = [rule(['*'], ['outpost.dev'], ['devices'])];
    assert.equal(holds(main, [rule(['update'], ['outpost.dev'], ['devices/status'])]), false);
    const status = [rule(['update'], ['*'], ['*/status'])];
    assert.ok(holds(status, [rule(['update'], ['outpost.dev'], ['devices/status', 'mailboxes/status'])]));
    assert.equal(holds(status, [rule(['update'], ['outpost.dev'], ['devices'])]), false);
    assert.equal(holds(status, [rule(['update'], ['outpost.dev'], ['devices/log'])]), false);
  });

  it('covers named resources only with the same names or with no names', () => {
    const named = [rule(['get'], [''], ['configmaps'], ['a', 'b'])];
    assert.ok(holds(named, [rule(['get'], [''], ['configmaps'], ['b'])]));
    assert.equal(holds(named, [rule(['get'], [''], ['configmaps'], ['c'])]), false);
    assert.equal(holds(named, [rule(['get'], [''], ['configmaps'])]), false, 'names do not cover every name');
    assert.ok(holds([rule(['get'], [''], ['configmaps'])], [rule(['get'], [''], ['configmaps'], ['z'])]));
  });

  it('covers non-resource URLs exactly or by a trailing *, and never with resource rules', () => {
    const owner = [urls(['get'], ['/apis/*', '/healthz'])];
    assert.ok(holds(owner, [urls(['get'], ['/apis/outpost.dev', '/apis/', '/healthz'])]));
    assert.equal(holds(owner, [urls(['get'], ['/healthz/etcd'])]), false);
    assert.equal(holds(owner, [urls(['post'], ['/healthz'])]), false);
    assert.equal(holds([rule(['*'], ['*'], ['*'])], [urls(['get'], ['/healthz'])]), false);
    assert.equal(holds(owner, [rule(['get'], [''], ['pods'])]), false);
  });

  it('takes several owner rules together, and only everything covers full authority', () => {
    const owner = [rule(['get'], [''], ['secrets']), rule(['list'], [''], ['secrets'])];
    assert.ok(holds(owner, [rule(['get', 'list'], [''], ['secrets'])]));
    assert.equal(holds(owner, [...FULL_AUTHORITY]), false);
    assert.ok(holds([rule(['*'], ['*'], ['*']), urls(['*'], ['*'])], [...FULL_AUTHORITY]));
    assert.equal(holds([rule(['*'], ['*'], ['*'])], [...FULL_AUTHORITY]), false);
    assert.ok(holds([], []), 'a role granting nothing is always allowed');
  });
});

describe('RBAC escalation: the refusal', () => {
  it('words what is missing as the apiserver does: compacted by verb, one rule a line, sorted', () => {
    const { missing } = covers(
      [rule(['get'], ['outpost.dev'], ['devices'])],
      [
        rule(['get', 'update', 'delete'], ['outpost.dev'], ['devices']),
        urls(['get'], ['/metrics']),
        rule(['get'], [''], ['secrets'], ['s1', 's2']),
      ],
    );
    assert.equal(
      escalationMessage('alice', ['team-a', 'system:authenticated'], missing),
      'user "alice" (groups=["team-a" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n' +
        '{APIGroups:[""], Resources:["secrets"], ResourceNames:["s1"], Verbs:["get"]}\n' +
        '{APIGroups:[""], Resources:["secrets"], ResourceNames:["s2"], Verbs:["get"]}\n' +
        '{APIGroups:["outpost.dev"], Resources:["devices"], Verbs:["update" "delete"]}\n' +
        '{NonResourceURLs:["/metrics"], Verbs:["get"]}',
    );
  });
});
