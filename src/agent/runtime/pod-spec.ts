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

/**
 * Why a unit object (Pod, Deployment, StatefulSet) cannot be run sensibly, or undefined: no
 * containers, a container without a name or with the name of another, replicas that are not a
 * non-negative integer, a command or args that are not lists of strings. The hub refuses such
 * objects in a Workload, but a Placement override can still make one for a device (or an older
 * hub have stored it): the agent runs none of it, rather than guessing (one replica for `"3"`).
 */
export function unrunnableReason(object: KubeObject): string | undefined {
  const what = `${object.kind} ${object.metadata?.name ?? ''}`;
  if (object.kind !== 'Pod') {
    const replicas = (object.spec as { replicas?: unknown } | undefined)?.replicas;
    if (
      replicas !== undefined &&
      replicas !== null &&
      !(Number.isInteger(replicas) && (replicas as number) >= 0)
    )
      return `${what}: spec.replicas must be a non-negative integer, not ${JSON.stringify(replicas)}`;
  }
  const { spec } = podSpecOf(object);
  const containers: unknown = spec.containers;
  if (!Array.isArray(containers) || containers.length === 0) return `${what}: the pod spec has no containers`;
  const names = new Set<string>();
  const inits: unknown = spec.initContainers ?? [];
  for (const container of [...(Array.isArray(inits) ? inits : [inits]), ...containers] as unknown[]) {
    const shape = container as Partial<ContainerShape> | null;
    if (typeof shape !== 'object' || shape === null || typeof shape.name !== 'string' || shape.name === '')
      return `${what}: every container needs a name`;
    if (names.has(shape.name)) return `${what}: two containers are named ${shape.name}`;
    names.add(shape.name);
    for (const field of ['command', 'args'] as const) {
      const value: unknown = shape[field];
      if (value !== undefined && !(Array.isArray(value) && value.every((part) => typeof part === 'string')))
        return `${what}: container ${shape.name}: ${field} must be a list of strings`;
    }
  }
  return undefined;
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
