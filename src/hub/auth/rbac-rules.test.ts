import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from '../../api/index.ts';
import { authorizerOver, forbidden } from './authorize.ts';
import { requestAttributes } from './authorize-attributes.ts';
import { RbacIndex } from './rbac-index.ts';

const alice = { user: 'alice', groups: ['team-a'] };
const attrs = (method: string, path: string, query: Record<string, string> = {}) =>
  requestAttributes(alice, method, path, query);

describe('request attributes', () => {
  it('derives the verb from the method, the name and the watch parameter', () => {
    const ns = '/apis/outpost.dev/v1alpha1/namespaces/a/workloads';
    assert.equal(attrs('GET', `${ns}/w`).verb, 'get');
    assert.equal(attrs('GET', ns).verb, 'list');
    assert.equal(attrs('GET', ns, { watch: 'true' }).verb, 'watch');
    assert.equal(attrs('GET', `${ns}/w`, { watch: '1' }).verb, 'watch');
    // Read as the resource routes read it (the Python client sends `True`).
    assert.equal(attrs('GET', ns, { watch: 'True' }).verb, 'watch');
    assert.equal(attrs('GET', ns, { watch: 'False' }).verb, 'list');
    assert.equal(attrs('GET', '/apis/outpost.dev/v1alpha1/watch/namespaces/a/workloads').verb, 'watch');
    assert.equal(attrs('DELETE', ns).verb, 'deletecollection');
    assert.equal(attrs('DELETE', `${ns}/w`).verb, 'delete');
    assert.equal(attrs('PATCH', `${ns}/w/status`).subresource, 'status');
    assert.equal(attrs('PUT', `${ns}/w`).verb, 'update');
  });

  it('reads a namespace from its own URL, and non-resource paths as such', () => {
    const status = attrs('PUT', '/api/v1/namespaces/a/status');
    assert.deepEqual(
      [status.resource, status.name, status.subresource, status.namespace],
      ['namespaces', 'a', 'status', 'a'],
    );
    for (const path of ['/api', '/api/v1', '/apis/outpost.dev/v1alpha1', '/version', '/openapi/v2']) {
      assert.equal(attrs('GET', path).resourceRequest, false, path);
    }
    assert.equal(attrs('GET', '/api/v1/configmaps').resourceRequest, true);
  });

  it('takes the name of a list from a field selector pinning exactly one', () => {
    const mailboxes = '/apis/outpost.dev/v1alpha1/mailboxes';
    assert.equal(attrs('GET', mailboxes, { fieldSelector: 'metadata.name=x' }).name, 'x');
    assert.equal(attrs('GET', mailboxes, { fieldSelector: 'metadata.name==x,spec.y=z' }).name, 'x');
    assert.equal(attrs('GET', mailboxes, { fieldSelector: 'metadata.name=x,metadata.name=y' }).name, '');
    assert.equal(attrs('GET', mailboxes, { fieldSelector: 'metadata.name!=x' }).name, '');
    assert.equal(attrs('GET', `${mailboxes}%2Fstatus`).name, 'status', 'decoded before splitting, as routed');
  });

  it('adds system:authenticated to the groups', () => {
    assert.deepEqual(attrs('GET', '/api').groups, ['team-a', 'system:authenticated']);
  });
});

const rbac = (
  kind: string,
  name: string,
  extra: Record<string, unknown>,
  namespace?: string,
): KubeObject => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind,
  metadata: namespace ? { name, namespace } : { name },
  ...extra,
});
const ref = (kind: string, name: string) => ({ apiGroup: 'rbac.authorization.k8s.io', kind, name });
const group = (name: string) => ({ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name });

describe('RBAC evaluation', () => {
  const authorizer = authorizerOver(
    RbacIndex.of([
      rbac('ClusterRole', 'team', {
        rules: [{ apiGroups: ['outpost.dev'], resources: ['workloads', '*/status'], verbs: ['*'] }],
      }),
      rbac('ClusterRole', 'urls', { rules: [{ nonResourceURLs: ['/apis/*'], verbs: ['get'] }] }),
      rbac(
        'Role',
        'one-cm',
        { rules: [{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['c1'], verbs: ['get'] }] },
        'a',
      ),
      rbac('RoleBinding', 'team', { roleRef: ref('ClusterRole', 'team'), subjects: [group('team-a')] }, 'a'),
      rbac('RoleBinding', 'cm', { roleRef: ref('Role', 'one-cm'), subjects: [group('team-a')] }, 'a'),
      rbac('RoleBinding', 'missing', { roleRef: ref('Role', 'nope'), subjects: [group('team-a')] }, 'b'),
      rbac('ClusterRoleBinding', 'urls', {
        roleRef: ref('ClusterRole', 'urls'),
        subjects: [group('team-a')],
      }),
    ]),
  );
  const allowed = (method: string, path: string) => authorizer.authorize(attrs(method, path)).allowed;

  it('grants a ClusterRole bound by a RoleBinding in that namespace only', () => {
    assert.equal(allowed('POST', '/apis/outpost.dev/v1alpha1/namespaces/a/workloads'), true);
    assert.equal(allowed('POST', '/apis/outpost.dev/v1alpha1/namespaces/b/workloads'), false);
    assert.equal(allowed('GET', '/apis/outpost.dev/v1alpha1/workloads'), false, 'across namespaces');
    assert.equal(
      allowed('PATCH', '/apis/outpost.dev/v1alpha1/namespaces/a/placements/p/status'),
      true,
      '*/status',
    );
    assert.equal(allowed('PATCH', '/apis/outpost.dev/v1alpha1/namespaces/a/placements/p'), false);
  });

  it('restricts rules with resourceNames to those names, and non-resource URLs to cluster bindings', () => {
    assert.equal(allowed('GET', '/api/v1/namespaces/a/configmaps/c1'), true);
    assert.equal(allowed('GET', '/api/v1/namespaces/a/configmaps/c2'), false);
    assert.equal(allowed('GET', '/api/v1/namespaces/a/configmaps'), false);
    assert.equal(allowed('GET', '/apis/outpost.dev'), true);
    assert.equal(allowed('GET', '/version'), false);
  });

  it('words a refusal as the apiserver does', () => {
    const denied = forbidden(attrs('GET', '/apis/outpost.dev/v1alpha1/devices/x'), '');
    assert.equal(
      denied.message,
      'devices.outpost.dev "x" is forbidden: User "alice" cannot get resource "devices" in API group "outpost.dev" at the cluster scope',
    );
    assert.equal(
      forbidden(attrs('GET', '/metrics'), '').message,
      'forbidden: User "alice" cannot get path "/metrics"',
    );
  });
});
