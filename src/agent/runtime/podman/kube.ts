import { join } from 'node:path';
import { stringify } from 'yaml';
import { buildEnv, expand } from '../container-env.ts';
import type { ContainerShape, PodSpecShape, VolumeShape } from '../pod-spec.ts';
import { podSpecOf, replicasOf, restartPolicyOf } from '../pod-spec.ts';
import { type Probe, probesOf, withoutProbes } from '../probes/index.ts';
import type { DesiredUnit } from '../runtime.ts';
import { safeName } from '../volumes.ts';

/** Label keys the podman runtime puts on every pod and container it creates. */
export const LABELS = {
  /** Which agent created it (several agents, e.g. in tests, may share one podman). */
  owner: 'outpost.dev/owner',
  /** {@link DesiredUnit.id}. */
  unit: 'outpost.dev/unit',
  /** {@link DesiredUnit.hash}. */
  hash: 'outpost.dev/hash',
  /** {@link DesiredUnit.objectHash}. */
  objectHash: 'outpost.dev/object-hash',
  /** JSON `{source, ref}`: enough to report the unit again after an agent restart. */
  identity: 'outpost.dev/identity',
  /** The unit's restart policy; podman's own is `Never`, the runtime supervises. */
  restartPolicy: 'outpost.dev/restart-policy',
  /** Replica index of this pod, and the unit's replica count. */
  replica: 'outpost.dev/replica',
  replicas: 'outpost.dev/replicas',
  /** The pod's container names in spec order (the first is the default for logs). */
  containers: 'outpost.dev/containers',
  /** Seconds to wait for the pod's containers to stop (terminationGracePeriodSeconds). */
  grace: 'outpost.dev/grace-seconds',
  /**
   * Which play of the unit made the pod (0, 1, 2, ...): the highest revision
   * is the unit's current version, older pods are being retired (a rollout
   * that started the new version first). Absent on pods of older agents: 0.
   */
  revision: 'outpost.dev/revision',
  /** JSON: the containers' probes, run by the agent (podman gets none); see probes.ts. Absent without probes. */
  probes: 'outpost.dev/probes',
  /**
   * JSON {@link RetryTiming}: the Workload's `spec.retry`, which replaces the
   * runtime's restart backoff for the pod's containers (supervise.ts). Absent without a policy.
   */
  retry: 'outpost.dev/retry',
} as const;

/** What `podman play kube` gets for one unit, and what the runtime must prepare first. */
export interface KubePlay {
  /** Multi-document YAML, one Pod per replica (fed on stdin: env values from Secrets never touch disk). */
  readonly yaml: string;
  /** Pod names, replica order: `<owner>-<unit id>-<index>` (or another slot of {@link podNameOf}). */
  readonly podNames: readonly string[];
  /** Every image the containers use (checked with `podman image exists` before playing). */
  readonly images: readonly string[];
  /** ConfigMap and Secret volumes to materialise into `volumesDir` first. */
  readonly dataVolumes: readonly VolumeShape[];
  /** Named volumes made for StatefulSet volumeClaimTemplates (removed with the unit). */
  readonly claimVolumes: readonly string[];
  readonly restartPolicy: 'Always' | 'OnFailure' | 'Never';
  /** Seconds podman waits for a container to stop before SIGKILL. */
  readonly gracePeriodSeconds: number;
}

/**
 * Pod name of a unit's replica: `<owner>-<unit id>-<index>`, or
 * `<owner>-<unit id>-<index>.<slot>` for a new version started while the old
 * pod (slot 0) is still stopping. A dot never occurs in a unit id or a
 * container name, so names cannot clash; the owner (the agent's id) keeps
 * two agents on one host that run the same Workload (the same unit ids) out
 * of each other's names in a podman store they share.
 */
export function podNameOf(owner: string, unitId: string, replica: number, slot = 0): string {
  const name = `${owner}-${unitId}-${replica}`;
  return slot === 0 ? name : `${name}.${slot}`;
}

/** The named volume of a StatefulSet claim template's replica: per agent, like pod names. */
export function claimVolumeOf(owner: string, unitId: string, template: string, replica: number): string {
  return `${owner}-${unitId}-${safeName(template)}-${replica}`;
}

/** Where a play's pods go: their revision label and names (default revision 0, slot 0 names). */
export interface PlayPlacement {
  readonly revision?: number;
  readonly podName?: (replica: number) => string;
}

/** podman play kube names a pod's container `<pod>-<container>`. */
export function containerNameOf(podName: string, container: string): string {
  return `${podName}-${container}`;
}

/**
 * Turns a unit (Pod, Deployment or StatefulSet) into plain Pods for `podman
 * play kube`: one per replica (podman 4.3 plays one pod per Deployment),
 * named after the unit id, labelled for adoption, with podman's restart
 * policy off (the runtime restarts with backoff), images never pulled (no
 * registry), env resolved from ConfigMaps and Secrets, ConfigMap/Secret
 * volumes as read-only host folders under `volumesDir/<volume>` (written
 * by the runtime, Secret files 0600), and host networking when rootless.
 * `env` goes into every container's environment, outside the unit's hash
 * (the labels): `OUTPOST_MQTT_URL` points at 127.0.0.1, which only
 * containers with host networking (`hostNetwork: true`, or rootless) reach.
 *
 * @throws ContainerConfigError when a referenced ConfigMap, Secret or key is missing.
 */
export function renderKubePlay(
  unit: DesiredUnit,
  owner: string,
  volumesDir: string,
  env: Readonly<Record<string, string>> = {},
  placement: PlayPlacement = {},
): KubePlay {
  const { spec, labels: templateLabels } = podSpecOf(unit.object);
  const replicas = replicasOf(unit.object);
  const restartPolicy = restartPolicyOf(unit.object);
  const images = new Set<string>();
  const dataVolumes = (spec.volumes ?? []).filter((v) => v.configMap || v.secret);
  const claimTemplates = claimTemplatesOf(unit);
  const claimVolumes: string[] = [];
  const grace = spec.terminationGracePeriodSeconds;
  const gracePeriodSeconds = typeof grace === 'number' && grace >= 0 ? Math.min(grace, 300) : 10;
  const podNames: string[] = [];
  const docs: string[] = [];
  for (let replica = 0; replica < replicas; replica++) {
    const podName = placement.podName?.(replica) ?? podNameOf(owner, unit.id, replica);
    podNames.push(podName);
    const hostname = (unit.ref.kind === 'Pod' ? unit.ref.name : `${unit.ref.name}-${replica}`).slice(0, 63);
    const containers = (list: ContainerShape[] | undefined) =>
      list?.map((container) => {
        if (container.image) images.add(container.image);
        return renderContainer(container, unit, hostname, env);
      });
    const volumes: Record<string, unknown>[] = (spec.volumes ?? []).map((volume) =>
      volume.configMap || volume.secret
        ? {
            name: volume.name,
            hostPath: { path: join(volumesDir, safeName(volume.name)), type: 'Directory' },
          }
        : volume,
    );
    for (const template of claimTemplates) {
      if (volumes.some((v) => v.name === template)) continue;
      const claimName = claimVolumeOf(owner, unit.id, template, replica);
      claimVolumes.push(claimName);
      volumes.push({ name: template, persistentVolumeClaim: { claimName } });
    }
    const podSpec: PodSpecShape = {
      ...spec,
      hostname,
      restartPolicy: 'Never',
      containers: containers(spec.containers),
      ...(spec.initContainers ? { initContainers: containers(spec.initContainers) } : {}),
      volumes: volumes as VolumeShape[],
      ...(unit.rootless ? { hostNetwork: true } : {}),
    };
    const probes = probesLabel(spec.containers ?? [], unit.rootless || spec.hostNetwork === true);
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: podName,
        labels: {
          ...templateLabels,
          [LABELS.owner]: owner,
          [LABELS.unit]: unit.id,
          [LABELS.hash]: unit.hash,
          [LABELS.objectHash]: unit.objectHash,
          [LABELS.identity]: JSON.stringify({ source: unit.source, ref: unit.ref }),
          [LABELS.restartPolicy]: restartPolicy,
          [LABELS.replica]: String(replica),
          [LABELS.replicas]: String(replicas),
          [LABELS.containers]: (spec.containers ?? []).map((c) => c.name).join(','),
          [LABELS.grace]: String(gracePeriodSeconds),
          [LABELS.revision]: String(placement.revision ?? 0),
          ...(probes ? { [LABELS.probes]: probes } : {}),
          ...(unit.retry ? { [LABELS.retry]: JSON.stringify(unit.retry) } : {}),
        },
      },
      spec: podSpec,
    };
    docs.push(stringify(pod, { lineWidth: 0 }));
  }
  return {
    yaml: docs.join('---\n'),
    podNames,
    images: [...images],
    dataVolumes,
    claimVolumes,
    restartPolicy,
    gracePeriodSeconds,
  };
}

function renderContainer(
  container: ContainerShape,
  unit: DesiredUnit,
  hostname: string,
  base: Readonly<Record<string, string>>,
): ContainerShape {
  // Kubernetes semantics for env (envFrom, valueFrom, $(VAR)) are resolved here, once for both runtimes.
  // `base` (the agent's OUTPOST_MQTT_URL, OUTPOST_DEVICE) comes first: the container's own env wins.
  const env = buildEnv(container, { configMaps: unit.configMaps, secrets: unit.secrets, base });
  // Probes are the agent's to run (probes.ts), the same way as on the process runtime: podman gets none.
  const { envFrom: _envFrom, ...rest } = withoutProbes(container);
  const expanded = (list: string[] | undefined) =>
    list?.map((part) => expand(part, { HOSTNAME: hostname, ...env }));
  return {
    ...rest,
    imagePullPolicy: 'Never',
    env: Object.entries(env).map(([name, value]) => ({ name, value })),
    ...(container.command ? { command: expanded(container.command) } : {}),
    ...(container.args ? { args: expanded(container.args) } : {}),
  };
}

/** The volumeClaimTemplates names of a StatefulSet (each becomes a podman named volume per replica). */
function claimTemplatesOf(unit: DesiredUnit): string[] {
  if (unit.ref.kind !== 'StatefulSet') return [];
  const templates = (
    unit.object.spec as { volumeClaimTemplates?: { metadata?: { name?: string } }[] } | undefined
  )?.volumeClaimTemplates;
  return (templates ?? []).map((t) => t.metadata?.name).filter((name): name is string => Boolean(name));
}

/** The label value of a pod's probes: the containers' parsed probes, and whether the pod is on the host network. */
export interface ProbesLabel {
  readonly hostNetwork: boolean;
  readonly containers: Record<string, Probe[]>;
}

/** The {@link LABELS.probes} value for a pod of these containers; undefined when none has a probe. */
export function probesLabel(containers: readonly ContainerShape[], hostNetwork: boolean): string | undefined {
  const found: Record<string, Probe[]> = {};
  for (const container of containers) {
    const probes = probesOf(container);
    if (probes.length > 0) found[container.name] = probes;
  }
  if (Object.keys(found).length === 0) return undefined;
  return JSON.stringify({ hostNetwork, containers: found } satisfies ProbesLabel);
}
