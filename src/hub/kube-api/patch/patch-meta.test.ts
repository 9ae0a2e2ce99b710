import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ALL_KINDS, apiVersionOf } from '../../../api/index.ts';
import { assertUnshared, frozen } from './patch.fixture.ts';
import { fieldPatchMeta, type PatchMeta, patchMetaFor } from './patch-meta.ts';
import { applyStrategicMergePatch } from './strategic-merge-patch.ts';

function metaOf(apiVersion: string, kind: string): PatchMeta {
  const meta = patchMetaFor(apiVersion, kind);
  assert.ok(meta, `${apiVersion} ${kind} has patch metadata`);
  return meta;
}

function patched(apiVersion: string, kind: string, live: unknown, patch: unknown): unknown {
  const result = applyStrategicMergePatch(frozen(live), frozen(patch), metaOf(apiVersion, kind));
  assertUnshared(result);
  return result;
}

function at(meta: PatchMeta | undefined, ...path: string[]): PatchMeta | undefined {
  return path.reduce<PatchMeta | undefined>(
    (node, key) => (key === '[]' ? node?.items : fieldPatchMeta(node, key)),
    meta,
  );
}

describe('patchMetaFor', () => {
  it('knows the core kinds the hub serves', () => {
    for (const [apiVersion, kind] of [
      ['v1', 'Namespace'],
      ['v1', 'ConfigMap'],
      ['v1', 'Secret'],
      ['v1', 'Event'],
      ['v1', 'Pod'],
      ['apps/v1', 'Deployment'],
      ['apps/v1', 'StatefulSet'],
    ] as const) {
      assert.ok(patchMetaFor(apiVersion, kind), `${apiVersion} ${kind}`);
    }
  });

  it('knows every served kind that takes strategic merge patch, as the apiserver takes it for built-in kinds', () => {
    const served = ALL_KINDS.filter((def) => def.strategicMergePatch);
    assert.deepEqual(
      served.filter((def) => patchMetaFor(apiVersionOf(def), def.kind) === undefined).map((def) => def.kind),
      [],
    );
    for (const kind of ['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding', 'Lease'])
      assert.ok(
        served.some((def) => def.kind === kind),
        `${kind} takes strategic merge patch`,
      );
  });

  it('answers undefined for custom resources and unknown versions, so the API can answer 415', () => {
    assert.equal(patchMetaFor('outpost.dev/v1alpha1', 'Device'), undefined);
    assert.equal(patchMetaFor('apps/v1', 'ConfigMap'), undefined);
    assert.equal(patchMetaFor('v1', 'Deployment'), undefined);
    assert.equal(patchMetaFor('v1', 'constructor'), undefined);
  });

  it('mirrors the Go struct tags of the pod template', () => {
    const template = at(metaOf('apps/v1', 'Deployment'), 'spec', 'template', 'spec');
    assert.deepEqual(at(template, 'containers'), {
      strategy: 'merge',
      mergeKey: 'name',
      items: at(template, 'containers', '[]'),
    });
    assert.equal(at(template, 'volumes')?.strategy, 'merge,retainKeys');
    assert.equal(at(template, 'containers', '[]', 'env')?.mergeKey, 'name');
    assert.equal(at(template, 'containers', '[]', 'volumeMounts')?.mergeKey, 'mountPath');
    assert.equal(at(template, 'initContainers', '[]', 'ports')?.mergeKey, 'containerPort');
    assert.equal(at(template, 'imagePullSecrets')?.mergeKey, 'name');
    assert.equal(at(metaOf('v1', 'Pod'), 'metadata', 'ownerReferences')?.mergeKey, 'uid');
    assert.equal(at(metaOf('v1', 'Pod'), 'status', 'conditions')?.mergeKey, 'type');
  });

  it('shares frozen tables that callers cannot change', () => {
    const meta = metaOf('v1', 'ConfigMap');
    assert.ok(Object.isFrozen(meta));
    assert.ok(Object.isFrozen(at(meta, 'metadata', 'finalizers')));
    assert.ok(Object.isFrozen(at(meta, 'metadata')?.fields));
  });
});

describe('strategic merge patch of served kinds', () => {
  const configMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: 'cfg',
      labels: { app: 'web', tier: 'edge' },
      finalizers: ['outpost.dev/a', 'outpost.dev/b'],
      ownerReferences: [
        { apiVersion: 'v1', kind: 'Pod', name: 'p1', uid: 'u1' },
        { apiVersion: 'v1', kind: 'Pod', name: 'p2', uid: 'u2' },
      ],
      managedFields: [{ manager: 'kubectl', operation: 'Update' }],
    },
    data: { a: '1', b: '2' },
  };

  it('merges labels and deletes one with null', () => {
    const result = patched('v1', 'ConfigMap', configMap, { metadata: { labels: { tier: null, site: 'x' } } });
    assert.deepEqual((result as typeof configMap).metadata.labels, { app: 'web', site: 'x' });
  });

  it('merges finalizers as a union', () => {
    const result = patched('v1', 'ConfigMap', configMap, {
      metadata: { finalizers: ['outpost.dev/b', 'outpost.dev/c'] },
    });
    assert.deepEqual((result as typeof configMap).metadata.finalizers, [
      'outpost.dev/a',
      'outpost.dev/b',
      'outpost.dev/c',
    ]);
  });

  it('removes a finalizer with $deleteFromPrimitiveList', () => {
    const result = patched('v1', 'ConfigMap', configMap, {
      metadata: { '$deleteFromPrimitiveList/finalizers': ['outpost.dev/a'] },
    });
    assert.deepEqual((result as typeof configMap).metadata.finalizers, ['outpost.dev/b']);
  });

  it('merges ownerReferences by uid and deletes one by uid', () => {
    const result = patched('v1', 'ConfigMap', configMap, {
      metadata: {
        ownerReferences: [
          { uid: 'u2', controller: true },
          { uid: 'u1', $patch: 'delete' },
        ],
      },
    });
    assert.deepEqual((result as typeof configMap).metadata.ownerReferences, [
      { apiVersion: 'v1', kind: 'Pod', name: 'p2', uid: 'u2', controller: true },
    ]);
  });

  it('replaces managedFields', () => {
    const result = patched('v1', 'ConfigMap', configMap, {
      metadata: { managedFields: [{ manager: 'other' }] },
    });
    assert.deepEqual((result as typeof configMap).metadata.managedFields, [{ manager: 'other' }]);
  });

  it('merges data keys and deletes one with null', () => {
    const result = patched('v1', 'ConfigMap', configMap, { data: { a: null, c: '3' } });
    assert.deepEqual((result as typeof configMap).data, { b: '2', c: '3' });
  });

  it('replaces spec.finalizers of a Namespace (no patch tag)', () => {
    const ns = {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'n' },
      spec: { finalizers: ['kubernetes'] },
    };
    const result = patched('v1', 'Namespace', ns, { spec: { finalizers: ['other'] } });
    assert.deepEqual((result as typeof ns).spec.finalizers, ['other']);
  });

  it('merges pod status conditions by type, in place', () => {
    const pod = {
      status: {
        conditions: [
          { type: 'Ready', status: 'False' },
          { type: 'Initialized', status: 'True' },
        ],
      },
    };
    const result = patched('v1', 'Pod', pod, { status: { conditions: [{ type: 'Ready', status: 'True' }] } });
    assert.deepEqual(result, {
      status: {
        conditions: [
          { type: 'Ready', status: 'True' },
          { type: 'Initialized', status: 'True' },
        ],
      },
    });
  });

  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web' },
    spec: {
      replicas: 1,
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          containers: [
            {
              name: 'app',
              image: 'web:1',
              env: [
                { name: 'A', value: '1' },
                { name: 'B', value: '2' },
              ],
              ports: [{ containerPort: 80 }],
              volumeMounts: [{ name: 'data', mountPath: '/data' }],
            },
            { name: 'sidecar', image: 'proxy:1' },
          ],
          volumes: [{ name: 'data', emptyDir: {} }],
          imagePullSecrets: [{ name: 'reg' }],
        },
      },
    },
  };
  type Deployment = typeof deployment;

  it('merges containers by name, and env, ports and volumeMounts by their keys', () => {
    const result = patched('apps/v1', 'Deployment', deployment, {
      spec: {
        template: {
          spec: {
            containers: [
              {
                name: 'app',
                image: 'web:2',
                env: [{ name: 'B', value: 'two' }],
                ports: [{ containerPort: 443 }],
                volumeMounts: [{ name: 'data', mountPath: '/data', readOnly: true }],
              },
            ],
            imagePullSecrets: [{ name: 'other' }],
          },
        },
      },
    }) as Deployment;
    const [app, sidecar] = result.spec.template.spec.containers;
    assert.equal(app?.image, 'web:2');
    assert.deepEqual(app?.env, [
      { name: 'A', value: '1' },
      { name: 'B', value: 'two' },
    ]);
    assert.deepEqual(app?.ports, [{ containerPort: 443 }, { containerPort: 80 }]);
    assert.deepEqual(app?.volumeMounts, [{ name: 'data', mountPath: '/data', readOnly: true }]);
    assert.deepEqual(sidecar, { name: 'sidecar', image: 'proxy:1' });
    assert.deepEqual(result.spec.template.spec.imagePullSecrets, [{ name: 'other' }, { name: 'reg' }]);
  });

  it('deletes a container with $patch: delete', () => {
    const result = patched('apps/v1', 'Deployment', deployment, {
      spec: { template: { spec: { containers: [{ name: 'sidecar', $patch: 'delete' }] } } },
    }) as Deployment;
    assert.deepEqual(
      result.spec.template.spec.containers.map((c) => c.name),
      ['app'],
    );
  });

  it('applies the patch kubectl apply sends: $setElementOrder, $retainKeys and deletions', () => {
    const result = patched('apps/v1', 'Deployment', deployment, {
      metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' } },
      spec: {
        strategy: { $retainKeys: ['type'], type: 'Recreate', rollingUpdate: null },
        template: {
          spec: {
            '$setElementOrder/containers': [{ name: 'app' }, { name: 'sidecar' }],
            '$setElementOrder/volumes': [{ name: 'data' }],
            containers: [
              {
                name: 'app',
                '$setElementOrder/env': [{ name: 'C' }, { name: 'B' }],
                env: [
                  { name: 'C', value: '3' },
                  { name: 'A', $patch: 'delete' },
                ],
              },
            ],
            volumes: [{ name: 'data', $retainKeys: ['configMap', 'name'], configMap: { name: 'cfg' } }],
          },
        },
      },
    }) as Deployment;
    assert.deepEqual(result.spec.strategy, { type: 'Recreate' });
    assert.deepEqual(result.spec.template.spec.containers[0]?.env, [
      { name: 'C', value: '3' },
      { name: 'B', value: '2' },
    ]);
    assert.deepEqual(result.spec.template.spec.volumes, [{ name: 'data', configMap: { name: 'cfg' } }]);
    assert.deepEqual(
      result.spec.template.spec.containers.map((c) => c.name),
      ['app', 'sidecar'],
    );
    assert.equal(result.spec.replicas, 1);
  });

  it('merges the pod template of a StatefulSet the same way', () => {
    const statefulSet = { spec: { template: { spec: { containers: [{ name: 'db', image: 'pg:15' }] } } } };
    const result = patched('apps/v1', 'StatefulSet', statefulSet, {
      spec: { template: { spec: { containers: [{ name: 'exporter', image: 'exp:1' }] } } },
    });
    assert.deepEqual(result, {
      spec: {
        template: {
          spec: {
            containers: [
              { name: 'exporter', image: 'exp:1' },
              { name: 'db', image: 'pg:15' },
            ],
          },
        },
      },
    });
  });
});

describe('strategic merge patch of RBAC kinds', () => {
  const RBAC = 'rbac.authorization.k8s.io/v1';

  it('replaces the rules of a Role and a ClusterRole, which are atomic lists', () => {
    const role = {
      apiVersion: RBAC,
      kind: 'Role',
      metadata: { name: 'reader', labels: { team: 'a' } },
      rules: [
        { apiGroups: [''], resources: ['configmaps'], verbs: ['get'] },
        { apiGroups: [''], resources: ['secrets'], verbs: ['get'] },
      ],
    };
    const rules = [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] }];
    for (const kind of ['Role', 'ClusterRole']) {
      const result = patched(
        RBAC,
        kind,
        { ...role, kind },
        { metadata: { labels: { env: 'x' } }, rules },
      ) as {
        rules: unknown;
        metadata: { labels: unknown };
      };
      assert.deepEqual(result.rules, rules, kind);
      assert.deepEqual(result.metadata.labels, { team: 'a', env: 'x' }, kind);
    }
  });

  it('replaces the subjects of a binding and merges its roleRef as an object', () => {
    const binding = {
      apiVersion: RBAC,
      kind: 'RoleBinding',
      metadata: { name: 'readers' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'reader' },
      subjects: [
        { kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'alice' },
        { kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'bob' },
      ],
    };
    const subjects = [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'team-a' }];
    for (const kind of ['RoleBinding', 'ClusterRoleBinding']) {
      const result = patched(RBAC, kind, { ...binding, kind }, { subjects, roleRef: { name: 'reader' } }) as {
        subjects: unknown;
        roleRef: unknown;
      };
      assert.deepEqual(result.subjects, subjects, kind);
      assert.deepEqual(result.roleRef, binding.roleRef, kind);
    }
  });
});
