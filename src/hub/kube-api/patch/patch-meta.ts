/**
 * Patch metadata: what the Go struct tags `patchStrategy` and `patchMergeKey` say about each field
 * of the Kubernetes kinds the hub serves. Strategic merge patch reads it to decide how a list
 * merges; fields without an entry behave as untagged Go fields (maps merge, lists replace).
 */

/**
 * A field's strategy, spelled as in the Go tag `patchStrategy`.
 * - `merge`: lists merge (primitives as a union, objects by `mergeKey`); maps merge (the default).
 * - `replace`: the patch value replaces the field wholesale (the default for lists).
 * - `retainKeys`: the field is a union whose `$retainKeys` directive clears unlisted keys; it only
 *   matters when computing patches, the directive itself is honoured wherever it appears.
 * - `merge,retainKeys`: both, as on `PodSpec.volumes`.
 */
export type PatchStrategy = 'merge' | 'replace' | 'retainKeys' | 'merge,retainKeys';

/** Patch metadata of one field, and through `fields` / `items` / `additional` of what it holds. */
export interface PatchMeta {
  /** How the field merges. @default undefined: maps merge, lists replace */
  readonly strategy?: PatchStrategy;
  /** For a list of objects with the `merge` strategy: the key that identifies an item. */
  readonly mergeKey?: string;
  /** For an object with known fields: the metadata of each field. */
  readonly fields?: Readonly<Record<string, PatchMeta>>;
  /** For a list: the metadata of its items. */
  readonly items?: PatchMeta;
  /** For a map (`map[string]T`), or fields not named in `fields`: the metadata of the values. */
  readonly additional?: PatchMeta;
}

/** The metadata of `key` inside an object described by `meta`, if any. */
export function fieldPatchMeta(meta: PatchMeta | undefined, key: string): PatchMeta | undefined {
  if (meta === undefined) return undefined;
  if (meta.fields !== undefined && Object.hasOwn(meta.fields, key)) return meta.fields[key];
  return meta.additional;
}

/**
 * The part of a field's strategy that decides how it merges: `merge`, `replace` or `undefined`
 * (the default). `retainKeys` is left out: the `$retainKeys` directive is honoured wherever it is.
 */
export function mergeStrategy(meta: PatchMeta | undefined): 'merge' | 'replace' | undefined {
  switch (meta?.strategy) {
    case 'merge':
    case 'merge,retainKeys':
      return 'merge';
    case 'replace':
      return 'replace';
    default:
      return undefined;
  }
}

const struct = (fields: Record<string, PatchMeta>): PatchMeta => ({ fields });
const mergeByKey = (mergeKey: string, items?: PatchMeta): PatchMeta =>
  items === undefined ? { strategy: 'merge', mergeKey } : { strategy: 'merge', mergeKey, items };
/** A list of primitives with `patchStrategy:"merge"`: a set, merged as a union. */
const mergeSet: PatchMeta = { strategy: 'merge' };
const conditionsByType = mergeByKey('type');

/**
 * metav1.ObjectMeta: `finalizers` merge (a set), `ownerReferences` merge by `uid`; `labels` and
 * `annotations` are plain maps; `managedFields` has no tag, so it is replaced.
 */
export const objectMetaPatchMeta: PatchMeta = struct({
  labels: {},
  annotations: {},
  finalizers: mergeSet,
  ownerReferences: mergeByKey('uid'),
  managedFields: {},
});

/** core/v1 Container (and EphemeralContainerCommon, which carries the same tags). */
const containerPatchMeta = struct({
  ports: mergeByKey('containerPort'),
  env: mergeByKey('name'),
  volumeMounts: mergeByKey('mountPath'),
  volumeDevices: mergeByKey('devicePath'),
});

/** core/v1 PodSpec. */
const podSpecPatchMeta = struct({
  volumes: { strategy: 'merge,retainKeys', mergeKey: 'name' },
  initContainers: mergeByKey('name', containerPatchMeta),
  containers: mergeByKey('name', containerPatchMeta),
  ephemeralContainers: mergeByKey('name', containerPatchMeta),
  imagePullSecrets: mergeByKey('name'),
  hostAliases: mergeByKey('ip'),
  topologySpreadConstraints: mergeByKey('topologyKey'),
  schedulingGates: mergeByKey('name'),
  resourceClaims: { strategy: 'merge,retainKeys', mergeKey: 'name' },
});

/** core/v1 PodStatus. */
const podStatusPatchMeta = struct({
  conditions: conditionsByType,
  podIPs: mergeByKey('ip'),
  hostIPs: mergeByKey('ip'),
  resourceClaimStatuses: { strategy: 'merge,retainKeys', mergeKey: 'name' },
});

/** core/v1 PodTemplateSpec, as embedded in workload kinds. */
const podTemplateSpecPatchMeta = struct({ metadata: objectMetaPatchMeta, spec: podSpecPatchMeta });

const kind = (fields: Record<string, PatchMeta>): PatchMeta =>
  struct({ metadata: objectMetaPatchMeta, ...fields });

const KINDS: ReadonlyMap<string, PatchMeta> = new Map([
  // NamespaceSpec.finalizers has no patch tag (it is `+listType=atomic`): it is replaced.
  [
    'v1/Namespace',
    kind({ spec: struct({ finalizers: {} }), status: struct({ conditions: conditionsByType }) }),
  ],
  ['v1/ConfigMap', kind({})],
  ['v1/Secret', kind({})],
  ['v1/Event', kind({})],
  // events.k8s.io/v1 Event carries no patch tag either (its patches are applied to the stored core Event).
  ['events.k8s.io/v1/Event', kind({})],
  // LeaseSpec has no list and no patch tag.
  ['coordination.k8s.io/v1/Lease', kind({})],
  // RBAC carries no patch tag (rules, subjects, the rules' lists and the aggregation selectors are
  // `+listType=atomic`; roleRef and each subject `+structType=atomic`): its lists are replaced.
  ['rbac.authorization.k8s.io/v1/Role', kind({})],
  ['rbac.authorization.k8s.io/v1/ClusterRole', kind({})],
  ['rbac.authorization.k8s.io/v1/RoleBinding', kind({})],
  ['rbac.authorization.k8s.io/v1/ClusterRoleBinding', kind({})],
  ['v1/Pod', kind({ spec: podSpecPatchMeta, status: podStatusPatchMeta })],
  [
    'apps/v1/Deployment',
    kind({
      spec: struct({ template: podTemplateSpecPatchMeta, strategy: { strategy: 'retainKeys' } }),
      status: struct({ conditions: conditionsByType }),
    }),
  ],
  [
    'apps/v1/StatefulSet',
    kind({
      spec: struct({ template: podTemplateSpecPatchMeta }),
      status: struct({ conditions: conditionsByType }),
    }),
  ],
]);

/**
 * The patch metadata of a served kind, or `undefined` when strategic merge patch is not supported
 * for it (the apiserver answers 415 Unsupported Media Type, as it does for custom resources).
 */
export function patchMetaFor(apiVersion: string, kind: string): PatchMeta | undefined {
  return KINDS.get(`${apiVersion}/${kind}`);
}

function deepFreeze(meta: PatchMeta): void {
  if (Object.isFrozen(meta)) return;
  Object.freeze(meta);
  for (const child of [meta.items, meta.additional, ...Object.values(meta.fields ?? {})]) {
    if (child !== undefined) deepFreeze(child);
  }
  if (meta.fields !== undefined) Object.freeze(meta.fields);
}

// The tables are shared by every request: freeze them so no caller can change them by accident.
for (const meta of KINDS.values()) deepFreeze(meta);
