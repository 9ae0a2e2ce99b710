import type { KubeObject } from '../../api/index.ts';

/**
 * The parts of a Kubernetes PodSpec the runtimes read. Other fields are
 * ignored (not rejected): a Mailbox object was validated by the hub.
 */
export interface PodSpecShape {
  containers?: ContainerShape[];
  initContainers?: ContainerShape[];
  volumes?: VolumeShape[];
  restartPolicy?: 'Always' | 'OnFailure' | 'Never';
  hostNetwork?: boolean;
  [field: string]: unknown;
}

export interface ContainerShape {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  workingDir?: string;
  env?: EnvVarShape[];
  envFrom?: EnvFromShape[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean; subPath?: string }[];
  [field: string]: unknown;
}

export interface EnvVarShape {
  name: string;
  value?: string;
  valueFrom?: {
    configMapKeyRef?: { name: string; key: string; optional?: boolean };
    secretKeyRef?: { name: string; key: string; optional?: boolean };
    [field: string]: unknown;
  };
}

export interface EnvFromShape {
  prefix?: string;
  configMapRef?: { name: string; optional?: boolean };
  secretRef?: { name: string; optional?: boolean };
}

export interface VolumeShape {
  name: string;
  configMap?: { name: string; items?: { key: string; path: string; mode?: number }[]; optional?: boolean };
  secret?: { secretName: string; items?: { key: string; path: string; mode?: number }[]; optional?: boolean };
  emptyDir?: Record<string, unknown>;
  hostPath?: { path: string };
  [field: string]: unknown;
}

/**
 * The pod template of a unit object: a Pod's `spec`, a Deployment's or
 * StatefulSet's `spec.template.spec`, with the template's labels.
 */
export function podSpecOf(object: KubeObject): { spec: PodSpecShape; labels: Record<string, string> } {
  const spec = (object.spec ?? {}) as Record<string, unknown>;
  if (object.kind === 'Pod') {
    return { spec: spec as PodSpecShape, labels: { ...(object.metadata.labels ?? {}) } };
  }
  const template = (spec.template ?? {}) as {
    metadata?: { labels?: Record<string, string> };
    spec?: unknown;
  };
  return { spec: (template.spec ?? {}) as PodSpecShape, labels: { ...(template.metadata?.labels ?? {}) } };
}

/** How many copies a unit runs: `spec.replicas` of a Deployment/StatefulSet (default 1), 1 for a Pod. */
export function replicasOf(object: KubeObject): number {
  if (object.kind === 'Pod') return 1;
  const replicas = (object.spec as { replicas?: unknown } | undefined)?.replicas;
  return typeof replicas === 'number' && Number.isInteger(replicas) && replicas >= 0 ? replicas : 1;
}

/**
 * The restart policy of a unit: a Pod's own (default `Always`); Deployments
 * and StatefulSets always restart (Kubernetes allows only `Always` there).
 */
export function restartPolicyOf(object: KubeObject): 'Always' | 'OnFailure' | 'Never' {
  if (object.kind !== 'Pod') return 'Always';
  return podSpecOf(object).spec.restartPolicy ?? 'Always';
}

/** The names of the ConfigMaps and Secrets a pod spec references (volumes, env, envFrom). */
export function referencesOf(spec: PodSpecShape): { configMaps: Set<string>; secrets: Set<string> } {
  const configMaps = new Set<string>();
  const secrets = new Set<string>();
  for (const volume of spec.volumes ?? []) {
    if (volume.configMap?.name) configMaps.add(volume.configMap.name);
    if (volume.secret?.secretName) secrets.add(volume.secret.secretName);
  }
  for (const container of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
    for (const from of container.envFrom ?? []) {
      if (from.configMapRef?.name) configMaps.add(from.configMapRef.name);
      if (from.secretRef?.name) secrets.add(from.secretRef.name);
    }
    for (const variable of container.env ?? []) {
      const cm = variable.valueFrom?.configMapKeyRef?.name;
      const secret = variable.valueFrom?.secretKeyRef?.name;
      if (cm) configMaps.add(cm);
      if (secret) secrets.add(secret);
    }
  }
  return { configMaps, secrets };
}
