/** The shapes of the hub's objects that the dashboard reads (a view of the API's schemas). */

export interface Meta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  creationTimestamp?: string;
}

export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: Meta;
}

export interface Device extends KubeObject {
  spec?: { parent?: string; level?: number; approved?: boolean };
  status?: {
    phase?: 'Pending' | 'Online' | 'Unreachable';
    conditions?: Condition[];
    lastHeartbeatTime?: string;
    system?: Record<string, string | number | undefined> & { agentVersion?: string };
    workloads?: { name: string; objects?: number; running?: number; failed?: number; restarts?: number }[];
    certificate?: { notAfter?: string };
  };
}

export interface DeviceCounts {
  matched: number;
  applied: number;
  running: number;
  failed: number;
  unreachable: number;
}

export interface Summary {
  devices?: DeviceCounts;
  failureReasons?: { reason: string; count: number }[];
  broken?: { device: string; reason: string; message?: string }[];
  conditions?: Condition[];
}

/** A Kubernetes label selector, as Placements write one. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: {
    key: string;
    operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
    values?: string[];
  }[];
}

export interface Placement extends KubeObject {
  spec?: { workloadSelector?: LabelSelector; deviceSelector?: LabelSelector };
  status?: Summary & {
    rollout?: {
      phase: string;
      currentRevision: number;
      updateRevision: number;
      releasedBatches: number;
      batches?: unknown[];
      failure?: { message: string };
    };
  };
}

export interface Workload extends KubeObject {
  status?: Summary;
}

export interface ObjectStatus {
  ref: { kind: string; namespace?: string; name: string };
  phase: string;
  ready?: boolean;
  restarts?: number;
  reason?: string;
  message?: string;
}

export interface Mailbox extends KubeObject {
  spec?: {
    objects?: { source: { namespace: string; workload: string; placement?: string }; object: KubeObject }[];
  };
  status?: { objects?: ObjectStatus[] };
}

export interface KubeEvent extends KubeObject {
  involvedObject: { kind?: string; name?: string; namespace?: string };
  reason?: string;
  message?: string;
  type?: string;
  count?: number;
  lastTimestamp?: string;
  eventTime?: string;
}

export interface OpcUaConnector extends KubeObject {
  spec?: { server?: string; subscriptions?: Record<string, string> };
  status?: {
    lastValueTime?: string;
    devices?: { matched?: number; running?: number; connected?: number };
    connections?: { device: string; connected: boolean; error?: string; lastValueTime?: string }[];
    conditions?: Condition[];
  };
}

/** The API paths of the kinds the dashboard lists. */
export const PATHS = {
  devices: '/apis/outpost.dev/v1alpha1/devices',
  placements: '/apis/outpost.dev/v1alpha1/placements',
  workloads: '/apis/outpost.dev/v1alpha1/workloads',
  opcuaconnectors: '/apis/outpost.dev/v1alpha1/opcuaconnectors',
  mailboxes: '/apis/outpost.dev/v1alpha1/mailboxes',
  events: '/api/v1/events',
  namespaces: '/api/v1/namespaces',
} as const;

/**
 * The list path of a namespaced kind of outpost.dev: every namespace's (a cluster-wide list,
 * which a role bound in one namespace may not make), or one namespace's.
 */
export function namespacedPath(
  plural: 'placements' | 'workloads' | 'opcuaconnectors',
  namespace: string,
): string {
  return namespace
    ? `/apis/outpost.dev/v1alpha1/namespaces/${encodeURIComponent(namespace)}/${plural}`
    : PATHS[plural];
}

/** `namespace/name`, or the name of a cluster-scoped object. */
export function keyOf(object: KubeObject): string {
  return object.metadata.namespace
    ? `${object.metadata.namespace}/${object.metadata.name}`
    : object.metadata.name;
}
