/**
 * What the cross-tenant matrix expects, written down as a small policy table
 * rather than read from whatever the hub answers: who (a workload team, a
 * device, anonymous) may do which verbs on which resources, in which scope.
 * It restates the built-in roles (`system:basic-user`, `system:discovery`,
 * `outpost:workload-team` bound in the team's namespace,
 * `outpost:device-viewer` bound to `outpost:workload-teams`) and the device
 * rules; anything not granted here must be refused.
 */

/** Who makes a request in the matrix. */
export type Subject =
  | { readonly kind: 'team'; readonly name: string; readonly namespace: string }
  | { readonly kind: 'device'; readonly name: string }
  | { readonly kind: 'anonymous'; readonly name: 'anonymous' };

/** One request, as the authoriser sees it. */
export interface MatrixRequest {
  /** `group/resource[/subresource]`, '' for the core group (`/configmaps`); for paths, the path. */
  readonly resource: string;
  readonly resourceRequest: boolean;
  /** '' for cluster-scoped requests and lists across namespaces. */
  readonly namespace: string;
  /** '' for a collection (a list or watch narrowed by `metadata.name=X` names X). */
  readonly name: string;
  readonly verb: string;
}

type Scope =
  /** Requests without a namespace (cluster-scoped kinds; a ClusterRoleBinding's grants). */
  | 'cluster'
  /** Requests in the team's own namespace. */
  | 'own-namespace'
  /** The team's own Namespace object. */
  | 'own-namespace-object'
  /** The device's own cluster-scoped objects (same name), or a list narrowed to it. */
  | 'own-device';

interface Grant {
  readonly who: ReadonlyArray<Subject['kind']>;
  readonly scope: Scope;
  readonly resources: readonly string[];
  readonly verbs: readonly string[];
}

const READ = ['get', 'list', 'watch'];
const ALL = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'];

/** Resource grants. */
export const POLICY: readonly Grant[] = [
  // system:basic-user: every authenticated caller asks about itself.
  {
    who: ['team', 'device'],
    scope: 'cluster',
    resources: [
      'authorization.k8s.io/selfsubjectaccessreviews',
      'authorization.k8s.io/selfsubjectrulesreviews',
      'authentication.k8s.io/selfsubjectreviews',
    ],
    verbs: ['create'],
  },
  // outpost:workload-team, bound with a RoleBinding in the team's namespace.
  {
    who: ['team'],
    scope: 'own-namespace',
    resources: [
      'outpost.dev/workloads',
      'outpost.dev/placements',
      'outpost.dev/opcuaconnectors',
      '/configmaps',
      '/secrets',
      'rbac.authorization.k8s.io/roles',
      'rbac.authorization.k8s.io/rolebindings',
    ],
    verbs: ALL,
  },
  {
    who: ['team'],
    scope: 'own-namespace',
    resources: [
      'outpost.dev/workloads/status',
      'outpost.dev/placements/status',
      'outpost.dev/opcuaconnectors/status',
    ],
    verbs: READ,
  },
  { who: ['team'], scope: 'own-namespace', resources: ['outpost.dev/workloads/log'], verbs: ['get'] },
  // Telemetry is read as `get`, its watch too (the route authorises itself so; see architecture.md).
  {
    who: ['team'],
    scope: 'own-namespace',
    resources: ['outpost.dev/opcuaconnectors/telemetry'],
    verbs: ['get', 'watch'],
  },
  {
    who: ['team'],
    scope: 'own-namespace',
    resources: ['outpost.dev/opcuaconnectors/commands'],
    verbs: ['create'],
  },
  { who: ['team'], scope: 'own-namespace', resources: ['/events', 'events.k8s.io/events'], verbs: READ },
  { who: ['team'], scope: 'own-namespace-object', resources: ['/namespaces'], verbs: ['get'] },
  // outpost:device-viewer, bound to outpost:workload-teams: the inventory and its bounds, read only.
  {
    who: ['team'],
    scope: 'cluster',
    resources: ['outpost.dev/devices', 'outpost.dev/devices/status', 'outpost.dev/deviceboundaries'],
    verbs: READ,
  },
  // The device rules: its own Mailbox and Device, read; their status, read and written.
  {
    who: ['device'],
    scope: 'own-device',
    resources: ['outpost.dev/mailboxes', 'outpost.dev/devices'],
    verbs: READ,
  },
  {
    who: ['device'],
    scope: 'own-device',
    resources: ['outpost.dev/mailboxes/status', 'outpost.dev/devices/status'],
    verbs: ['get', 'update', 'patch'],
  },
];

/** Non-resource grants; `{self}` is the device's own name, `{id}` any one segment. */
export const PATH_POLICY: ReadonlyArray<{
  readonly who: ReadonlyArray<Subject['kind']>;
  readonly paths: readonly string[];
  readonly verbs: readonly string[];
}> = [
  // system:discovery (every authenticated caller) and system:public-info-viewer.
  {
    who: ['team', 'device'],
    paths: [
      '/api',
      '/api/v1',
      '/apis',
      '/apis/outpost.dev/v1alpha1',
      '/openapi/v2',
      '/openapi/v3',
      '/version',
    ],
    verbs: ['get'],
  },
  // Health answers without credentials, as Kubernetes grants it to everyone.
  { who: ['team', 'device', 'anonymous'], paths: ['/healthz', '/livez', '/readyz'], verbs: ['get'] },
  // The agent's log-request endpoints, its own only.
  { who: ['device'], paths: ['/agent/v1/devices/{self}/log-requests'], verbs: ['get'] },
  { who: ['device'], paths: ['/agent/v1/devices/{self}/log-requests/{id}'], verbs: ['post'] },
];

/** Whether the policy lets `subject` make `request`. */
export function expectedAllowed(subject: Subject, request: MatrixRequest): boolean {
  if (!request.resourceRequest) {
    return PATH_POLICY.some(
      (grant) =>
        grant.who.includes(subject.kind) &&
        grant.verbs.includes(request.verb) &&
        grant.paths.some((path) => pathMatches(path, subject, request.resource)),
    );
  }
  return POLICY.some(
    (grant) =>
      grant.who.includes(subject.kind) &&
      grant.verbs.includes(request.verb) &&
      grant.resources.includes(request.resource) &&
      inScope(grant.scope, subject, request),
  );
}

function inScope(scope: Scope, subject: Subject, request: MatrixRequest): boolean {
  switch (scope) {
    case 'cluster':
      return request.namespace === '';
    case 'own-namespace':
      return subject.kind === 'team' && request.namespace === subject.namespace;
    case 'own-namespace-object':
      return subject.kind === 'team' && request.namespace === '' && request.name === subject.namespace;
    case 'own-device':
      return subject.kind === 'device' && request.namespace === '' && request.name === subject.name;
  }
}

function pathMatches(template: string, subject: Subject, path: string): boolean {
  const want = template.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return false;
  return want.every((part, i) => {
    if (part === '{self}') return subject.kind === 'device' && got[i] === subject.name;
    if (part === '{id}') return got[i] !== '';
    return part === got[i];
  });
}
