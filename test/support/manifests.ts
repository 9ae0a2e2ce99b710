/** Manifests of the kinds the end-to-end tests write, as a user writes them for kubectl. */
import YAML from 'yaml';

/** A plain Kubernetes object as a manifest. */
export type Manifest = Record<string, unknown> & {
  metadata: { name: string; namespace?: string } & Record<string, unknown>;
};

/** Several manifests as one YAML stream, as a user writes them. */
export function yamlOf(...manifests: Manifest[]): string {
  return manifests.map((manifest) => YAML.stringify(manifest)).join('---\n');
}

/** A Namespace manifest. */
export function namespace(name: string): Manifest {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name } };
}

/** A Device manifest with its labels and heartbeat period. */
export function device(name: string, labels: Record<string, string> = {}, periodSeconds = 15): Manifest {
  return {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Device',
    metadata: { name, labels },
    spec: { heartbeat: { periodSeconds } },
  };
}

/** A Workload running one Deployment of `image`. */
export function workload(
  ns: string,
  name: string,
  image = 'nginx:1.27',
  labels: Record<string, string> = {},
): Manifest {
  return {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Workload',
    metadata: { name, namespace: ns, labels },
    spec: {
      resources: [
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name },
          spec: {
            replicas: 1,
            selector: { matchLabels: { app: name } },
            template: {
              metadata: { labels: { app: name } },
              spec: { containers: [{ name, image }] },
            },
          },
        },
      ],
    },
  };
}

/** A Placement of one Workload, by name, on the devices of a `site`. */
export function placement(ns: string, name: string, workloadName: string, site: string): Manifest {
  return {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Placement',
    metadata: { name, namespace: ns },
    spec: {
      workloadSelector: { names: [workloadName] },
      deviceSelector: { matchLabels: { site } },
    },
  };
}

/** A ConfigMap manifest. */
export function configMap(ns: string, name: string, data: Record<string, string>): Manifest {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns }, data };
}

/** The URL path of a Workload (or of the collection when `name` is omitted). */
export function workloadPath(ns: string, name?: string): string {
  const collection = `/apis/outpost.dev/v1alpha1/namespaces/${ns}/workloads`;
  return name ? `${collection}/${name}` : collection;
}

/** A Ready condition for a status subresource write. */
export function readyCondition(status: 'True' | 'False' = 'True') {
  return {
    type: 'Ready',
    status,
    reason: status === 'True' ? 'AllRunning' : 'NotRunning',
    message: 'set by the test',
    lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  };
}
