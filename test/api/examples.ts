/**
 * One valid example of every kind the property tests mutate, with the URLs it is served at.
 */

/** The namespace the namespaced examples live in. */
export const NAMESPACE = 'fuzz';

/** A kind under test: where its collection is, whether it has `status`, and a valid example. */
export interface KindCase {
  readonly kind: string;
  /** The collection URL (in {@link NAMESPACE} for namespaced kinds). */
  readonly collection: string;
  readonly statusSubresource: boolean;
  /** Whether strategic merge patch applies (core kinds); custom kinds answer 415. */
  readonly strategic: boolean;
  /** A valid object named `name` (a fresh copy on every call). */
  example(name: string): Record<string, unknown>;
}

const core = (plural: string, namespaced: boolean) =>
  namespaced ? `/api/v1/namespaces/${NAMESPACE}/${plural}` : `/api/v1/${plural}`;
const outpost = (plural: string, namespaced: boolean) =>
  namespaced
    ? `/apis/outpost.dev/v1alpha1/namespaces/${NAMESPACE}/${plural}`
    : `/apis/outpost.dev/v1alpha1/${plural}`;

const meta = (name: string, namespaced: boolean) => ({
  name,
  ...(namespaced ? { namespace: NAMESPACE } : {}),
  labels: { app: 'demo', 'outpost.dev/site': 'plant-1' },
  annotations: { 'example.com/note': 'a note' },
});

const counts = { matched: 3, applied: 2, running: 2, failed: 1, unreachable: 0 };
const condition = {
  type: 'Ready',
  status: 'False',
  reason: 'Failing',
  message: 'one device fails',
  lastTransitionTime: '2024-01-01T00:00:00Z',
};

/** Every kind the properties cover. */
export const KIND_CASES: readonly KindCase[] = [
  {
    kind: 'Namespace',
    collection: core('namespaces', false),
    statusSubresource: true,
    strategic: true,
    example: (name) => ({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: meta(name, false),
      spec: { finalizers: ['kubernetes'] },
    }),
  },
  {
    kind: 'ConfigMap',
    collection: core('configmaps', true),
    statusSubresource: false,
    strategic: true,
    example: (name) => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: meta(name, true),
      data: { 'config.yaml': 'interval: 5s\n', mode: 'fast' },
      binaryData: { blob: 'AAEC' },
    }),
  },
  {
    kind: 'Secret',
    collection: core('secrets', true),
    statusSubresource: false,
    strategic: true,
    example: (name) => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: meta(name, true),
      type: 'Opaque',
      data: { password: 'c2VjcmV0' },
      stringData: { user: 'operator' },
    }),
  },
  {
    kind: 'Device',
    collection: outpost('devices', false),
    statusSubresource: true,
    strategic: false,
    example: (name) => ({
      apiVersion: 'outpost.dev/v1alpha1',
      kind: 'Device',
      metadata: meta(name, false),
      spec: {
        heartbeat: { periodSeconds: 15 },
        level: 2,
        profiles: [{ name: 'busy', conditions: [{ name: 'high', expression: 'cpu > 23%' }] }],
      },
      status: {
        phase: 'Online',
        conditions: [{ type: 'Ready', status: 'True' }],
        lastHeartbeatTime: '2024-01-01T00:00:00Z',
        system: { hostname: 'gw-1', os: 'linux', architecture: 'amd64', cpus: 4, memoryBytes: 8_000_000_000 },
        resources: { cpu: 0.2 },
        workloads: [{ name: 'opcua', phase: 'Running' }],
      },
    }),
  },
  {
    kind: 'Workload',
    collection: outpost('workloads', true),
    statusSubresource: true,
    strategic: false,
    example: (name) => ({
      apiVersion: 'outpost.dev/v1alpha1',
      kind: 'Workload',
      metadata: meta(name, true),
      spec: {
        rootless: true,
        resources: [
          { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg' }, data: { a: 'b' } },
          {
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            metadata: { name: 'app', labels: { app: 'demo' } },
            spec: {
              replicas: 1,
              selector: { matchLabels: { app: 'demo' } },
              template: {
                metadata: { labels: { app: 'demo' } },
                spec: { containers: [{ name: 'c', image: 'busybox', command: ['sleep', '1d'] }] },
              },
            },
          },
        ],
      },
      status: {
        observedGeneration: 1,
        devices: counts,
        broken: [{ device: 'gw-2', reason: 'CrashLoop' }],
        conditions: [condition],
      },
    }),
  },
  {
    kind: 'Placement',
    collection: outpost('placements', true),
    statusSubresource: true,
    strategic: false,
    example: (name) => ({
      apiVersion: 'outpost.dev/v1alpha1',
      kind: 'Placement',
      metadata: meta(name, true),
      spec: {
        workloadSelector: { names: ['wl-1'], matchLabels: { app: 'demo' } },
        deviceSelector: {
          matchLabels: { site: 'plant-1' },
          matchExpressions: [{ key: 'tier', operator: 'In', values: ['edge', 'gateway'] }],
        },
        customization: {
          overrides: [
            {
              deviceSelector: { matchLabels: { arch: 'arm64' } },
              target: { kind: 'Deployment', name: 'app' },
              patch: [{ op: 'replace', path: '/spec/replicas', value: 2 }],
            },
          ],
        },
        rollout: {
          strategy: 'Batches',
          batches: [{ limit: 1 }, { limit: '50%', approval: 'Manual' }],
          successThreshold: 90,
        },
      },
      status: {
        devices: counts,
        failureReasons: [{ reason: 'CrashLoop', count: 1 }],
        conditions: [condition],
      },
    }),
  },
  {
    kind: 'Mailbox',
    collection: outpost('mailboxes', false),
    statusSubresource: true,
    strategic: false,
    example: (name) => ({
      apiVersion: 'outpost.dev/v1alpha1',
      kind: 'Mailbox',
      metadata: meta(name, false),
      spec: {
        objects: [
          {
            source: { namespace: NAMESPACE, workload: 'wl-1', placement: 'pl-1' },
            hash: 'sha256:abc',
            object: {
              apiVersion: 'v1',
              kind: 'ConfigMap',
              metadata: { name: 'cfg', namespace: NAMESPACE },
              data: { a: 'b' },
            },
          },
        ],
      },
      status: {
        observedGeneration: 1,
        objects: [
          {
            ref: { apiVersion: 'v1', kind: 'ConfigMap', namespace: NAMESPACE, name: 'cfg' },
            observedHash: 'sha256:abc',
            phase: 'Running',
            ready: true,
            restarts: 0,
          },
        ],
      },
    }),
  },
];
