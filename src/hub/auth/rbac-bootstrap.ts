/**
 * The roles and bindings every hub has, written at start as the apiserver
 * writes its bootstrap policy: Kubernetes' own (`cluster-admin`,
 * `system:discovery`, `system:basic-user`, `system:public-info-viewer`) and
 * Outpost's (`outpost:infra-admin`, `outpost:workload-team`,
 * `outpost:device-viewer`, `outpost:metrics-reader`).
 *
 * `outpost:workload-team` aggregates, as Kubernetes' `admin`/`edit`/`view`
 * do: its rules are those of every ClusterRole labelled
 * `rbac.outpost.dev/aggregate-to-workload-team: "true"` (the built-in
 * `outpost:aggregate-to-workload-team`, and whatever a later kind adds), kept
 * current by the `clusterrole-aggregation` controller. `outpost:infra-admin`
 * holds `*` on everything, so every kind added later is already in it.
 *
 * How to bind Outpost's roles:
 *   infrastructure admins   kubectl create clusterrolebinding NAME --clusterrole=outpost:infra-admin --group=infra
 *   a workload team         kubectl create rolebinding NAME -n TEAM-NS --clusterrole=outpost:workload-team --group=team-a
 *                           and a member of group `outpost:workload-teams` reads devices (bound at start)
 *   Prometheus              kubectl create clusterrolebinding NAME --clusterrole=outpost:metrics-reader --user=prometheus
 *                           or a certificate in group `outpost:monitoring` (bound at start)
 */
import {
  clusterRoleBindingKind,
  clusterRoleKind,
  type KubeObject,
  type PolicyRule,
  RBAC_GROUP,
} from '../../api/index.ts';
import { ApiError, type ObjectService, parse } from '../kube-api/index.ts';
import { AUTHENTICATED_GROUP } from './authorize-attributes.ts';
import { AGGREGATE_TO_WORKLOAD_TEAM, aggregatedRules, isAggregating } from './rbac-aggregation.ts';

/** The group whose members may read the device inventory (bound to `outpost:device-viewer` at start). */
export const WORKLOAD_TEAMS_GROUP = 'outpost:workload-teams';
/** The group whose members may scrape `/metrics` (bound to `outpost:metrics-reader` at start), as Kubernetes' `system:monitoring`. */
export const MONITORING_GROUP = 'outpost:monitoring';
/** The group the admin kubeconfig's user is in: every request allowed, without looking at RBAC. */
export const MASTERS_GROUP = 'system:masters';

const AUTOUPDATE = 'rbac.authorization.kubernetes.io/autoupdate';
const FIELD_MANAGER = 'outpost-hub';

const READ = ['get', 'list', 'watch'];
const WRITE = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
const ALL = ['*'];

/** Built-in ClusterRoles and their rules (an aggregating role's are gathered: see {@link BUILT_IN_AGGREGATION}). */
export const BUILT_IN_CLUSTER_ROLES: Readonly<Record<string, readonly PolicyRule[]>> = {
  'cluster-admin': [
    { apiGroups: ['*'], resources: ['*'], verbs: ALL },
    { nonResourceURLs: ['*'], verbs: ALL },
  ],
  'system:discovery': [
    {
      nonResourceURLs: [
        '/api',
        '/api/*',
        '/apis',
        '/apis/*',
        '/healthz',
        '/livez',
        '/openapi',
        '/openapi/*',
        '/readyz',
        '/version',
        '/version/',
      ],
      verbs: ['get'],
    },
  ],
  'system:basic-user': [
    {
      apiGroups: ['authorization.k8s.io'],
      resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'],
      verbs: ['create'],
    },
    { apiGroups: ['authentication.k8s.io'], resources: ['selfsubjectreviews'], verbs: ['create'] },
  ],
  'system:public-info-viewer': [
    { nonResourceURLs: ['/healthz', '/livez', '/readyz', '/version', '/version/'], verbs: ['get'] },
  ],
  /** Everything: the inventory (devices, mailboxes, tokens), namespaces, leases, RBAC, and every kind added later. */
  'outpost:infra-admin': [
    { apiGroups: ['*'], resources: ['*'], verbs: ALL },
    { nonResourceURLs: ['*'], verbs: ALL },
  ],
  /** Bound with a RoleBinding in a team's namespace; gathers the roles labelled to aggregate to it. */
  'outpost:workload-team': [],
  /** What a workload team does in its namespaces: what runs where, its configuration, and delegation. */
  'outpost:aggregate-to-workload-team': [
    {
      apiGroups: ['outpost.dev'],
      resources: ['workloads', 'placements', 'opcuaconnectors'],
      verbs: ALL,
    },
    {
      apiGroups: ['outpost.dev'],
      resources: ['workloads/status', 'placements/status', 'opcuaconnectors/status'],
      verbs: READ,
    },
    // A workload's output on the devices it is placed on (`outpost logs`), as `pods/log` in Kubernetes.
    { apiGroups: ['outpost.dev'], resources: ['workloads/log'], verbs: ['get'] },
    // Objects the namespace's workloads uploaded from devices (`outpost objects`): reading and removing.
    { apiGroups: ['outpost.dev'], resources: ['devices/objects'], verbs: ['get', 'delete'] },
    // Connectors' values (`outpost telemetry`) and writes through them (`outpost command send`).
    { apiGroups: ['outpost.dev'], resources: ['opcuaconnectors/telemetry'], verbs: ['get'] },
    { apiGroups: ['outpost.dev'], resources: ['opcuaconnectors/commands'], verbs: ['create'] },
    { apiGroups: [''], resources: ['configmaps', 'secrets'], verbs: ALL },
    { apiGroups: ['', 'events.k8s.io'], resources: ['events'], verbs: READ },
    // With a RoleBinding in namespace N, `get namespaces N` has namespace N: the team sees its own.
    { apiGroups: [''], resources: ['namespaces'], verbs: ['get'] },
    // Delegation within the namespace, as Kubernetes' `admin` role: the escalation check keeps a team
    // from granting more than it holds. Never `*`, which would include `bind` and `escalate`.
    { apiGroups: [RBAC_GROUP], resources: ['roles', 'rolebindings'], verbs: WRITE },
  ],
  /**
   * Read-only inventory, bound cluster-wide (devices are cluster-scoped: a RoleBinding cannot grant
   * them), and the DeviceBoundaries, so that a team sees which devices its namespaces may target.
   */
  'outpost:device-viewer': [
    { apiGroups: ['outpost.dev'], resources: ['devices', 'devices/status'], verbs: READ },
    { apiGroups: ['outpost.dev'], resources: ['deviceboundaries'], verbs: READ },
  ],
  /** Scraping the hub's Prometheus metrics, as Kubernetes' `system:monitoring` (whose other paths the hub does not serve). */
  'outpost:metrics-reader': [{ nonResourceURLs: ['/metrics'], verbs: ['get'] }],
};

/** Built-in aggregating ClusterRoles: the label whose ClusterRoles (`"true"`) they gather. */
export const BUILT_IN_AGGREGATION: Readonly<Record<string, string>> = {
  'outpost:workload-team': AGGREGATE_TO_WORKLOAD_TEAM,
};

/** Labels of built-in ClusterRoles beyond the bootstrap label: which aggregating role they extend. */
const BUILT_IN_LABELS: Readonly<Record<string, Record<string, string>>> = {
  'outpost:aggregate-to-workload-team': { [AGGREGATE_TO_WORKLOAD_TEAM]: 'true' },
};

/** Built-in ClusterRoleBindings: name, role, and the groups bound. */
export const BUILT_IN_CLUSTER_ROLE_BINDINGS: ReadonlyArray<{ name: string; role: string; groups: string[] }> =
  [
    { name: 'cluster-admin', role: 'cluster-admin', groups: [MASTERS_GROUP] },
    { name: 'system:discovery', role: 'system:discovery', groups: [AUTHENTICATED_GROUP] },
    { name: 'system:basic-user', role: 'system:basic-user', groups: [AUTHENTICATED_GROUP] },
    { name: 'system:public-info-viewer', role: 'system:public-info-viewer', groups: [AUTHENTICATED_GROUP] },
    { name: 'outpost:device-viewers', role: 'outpost:device-viewer', groups: [WORKLOAD_TEAMS_GROUP] },
    { name: 'outpost:metrics-readers', role: 'outpost:metrics-reader', groups: [MONITORING_GROUP] },
  ];

const bootstrapMeta = (name: string) => ({
  name,
  labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults', ...BUILT_IN_LABELS[name] },
  annotations: { [AUTOUPDATE]: 'true' },
});

/** A built-in ClusterRole as first written; an aggregating one starts with the built-in roles' rules it gathers. */
function builtInClusterRole(name: string): KubeObject {
  const role: KubeObject = {
    apiVersion: `${RBAC_GROUP}/v1`,
    kind: 'ClusterRole',
    metadata: bootstrapMeta(name),
    rules: (BUILT_IN_CLUSTER_ROLES[name] ?? []).map((rule) => ({ ...rule })),
  };
  const label = BUILT_IN_AGGREGATION[name];
  if (label === undefined) return role;
  role.aggregationRule = { clusterRoleSelectors: [{ matchLabels: { [label]: 'true' } }] };
  const others = Object.keys(BUILT_IN_CLUSTER_ROLES).filter((other) => !(other in BUILT_IN_AGGREGATION));
  role.rules = aggregatedRules(role, others.map(builtInClusterRole));
  return role;
}

/**
 * Creates the built-in roles and bindings, idempotently and safely when
 * several replicas start at once. A built-in ClusterRole whose rules (or, for
 * an aggregating one, whose aggregationRule; its rules are the controller's)
 * or labels differ from the hub's is reset unless annotated
 * `autoupdate: "false"` (as the apiserver reconciles its own); a binding that
 * exists is left as it is.
 */
export async function ensureBootstrapPolicy(service: ObjectService): Promise<void> {
  for (const name of Object.keys(BUILT_IN_CLUSTER_ROLES)) {
    const role = builtInClusterRole(name);
    const existing = await createOrGet(service, role);
    if (!existing) continue;
    const live = parse(existing);
    if (live.metadata.annotations?.[AUTOUPDATE] === 'false') continue;
    const labels = { ...live.metadata.labels, ...role.metadata.labels };
    const next: KubeObject = { ...live, metadata: { ...live.metadata, labels } };
    if (isAggregating(role)) next.aggregationRule = role.aggregationRule;
    else next.rules = role.rules;
    if (JSON.stringify(next) === JSON.stringify(live)) continue;
    try {
      await service.update(clusterRoleKind, undefined, name, next, { fieldManager: FIELD_MANAGER });
    } catch (error) {
      // Another replica reconciled it between our read and our write.
      if (!(error instanceof ApiError && error.code === 409)) throw error;
    }
  }
  for (const { name, role, groups } of BUILT_IN_CLUSTER_ROLE_BINDINGS) {
    await createOrGet(service, {
      apiVersion: `${RBAC_GROUP}/v1`,
      kind: 'ClusterRoleBinding',
      metadata: bootstrapMeta(name),
      roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: role },
      subjects: groups.map((group) => ({ kind: 'Group', apiGroup: RBAC_GROUP, name: group })),
    });
  }
}

/** Creates the object; when it already exists, returns what is stored. */
async function createOrGet(service: ObjectService, object: KubeObject) {
  const def = object.kind === 'ClusterRole' ? clusterRoleKind : clusterRoleBindingKind;
  try {
    await service.create(def, undefined, object, { fieldManager: FIELD_MANAGER });
    return undefined;
  } catch (error) {
    if (!(error instanceof ApiError && error.reason === 'AlreadyExists')) throw error;
    return service.get(def, undefined, object.metadata.name!);
  }
}
