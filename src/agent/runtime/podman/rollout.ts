import type { ContainerShape } from '../pod-spec.ts';
import { podSpecOf, replicasOf } from '../pod-spec.ts';
import type { DesiredUnit } from '../runtime.ts';

/**
 * How the podman runtime replaces a running version of a unit by a new one:
 * - `surge`: the new pods start first, under other names; the old ones then
 *   stop in the background, each with its full terminationGracePeriodSeconds
 *   (the new version does not wait for the old one's graceful shutdown).
 * - `recreate`: the old pods stop (with their grace period) before the new
 *   ones start; never two versions at once.
 */
export type Rollout = { readonly kind: 'surge' } | { readonly kind: 'recreate'; readonly why: string };

/**
 * The rollout Kubernetes would do on one node, for a unit about to replace
 * its running version:
 * - a Deployment surges (its default `RollingUpdate` strategy, maxSurge
 *   25 % rounds up to at least one pod) unless its strategy is `Recreate` or
 *   its `maxSurge` is 0;
 * - a Pod (one instance by name) and a StatefulSet (at most one pod per
 *   ordinal, sharing its claim volume) are recreated;
 * - pods that bind host ports are recreated, since two versions would clash
 *   on them (Kubernetes would not schedule the surge pod on the same node):
 *   a `hostPort`, or a `containerPort` with `hostNetwork`. Rootless units
 *   always run with host networking here (no slirp4netns), where ports the
 *   spec never declares clash too: they are recreated.
 *
 * All replicas of a Deployment surge at once, whatever `maxSurge` says above
 * zero: the old pods are stopped (gracefully) as soon as the new ones run.
 */
export function rolloutOf(unit: DesiredUnit): Rollout {
  const kind = unit.object.kind;
  if (kind !== 'Deployment') return { kind: 'recreate', why: `a ${kind} is never surged` };
  const strategy = (unit.object.spec as { strategy?: DeploymentStrategy } | undefined)?.strategy;
  if (strategy?.type === 'Recreate') return { kind: 'recreate', why: 'strategy Recreate' };
  if (surgeOf(strategy?.rollingUpdate?.maxSurge, replicasOf(unit.object)) < 1)
    return { kind: 'recreate', why: 'maxSurge 0' };
  if (unit.rootless) return { kind: 'recreate', why: 'rootless (host network)' };
  const { spec } = podSpecOf(unit.object);
  const containers: ContainerShape[] = [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
  const ports = containers.flatMap((c) => (Array.isArray(c.ports) ? (c.ports as PortShape[]) : []));
  if (ports.some((p) => typeof p.hostPort === 'number' && p.hostPort > 0))
    return { kind: 'recreate', why: 'hostPort' };
  if (spec.hostNetwork === true && ports.length > 0)
    return { kind: 'recreate', why: 'host network with ports' };
  return { kind: 'surge' };
}

interface DeploymentStrategy {
  type?: string;
  rollingUpdate?: { maxSurge?: number | string };
}

interface PortShape {
  containerPort?: number;
  hostPort?: number;
}

/** Kubernetes' maxSurge in pods: an integer, or a percentage of the replicas rounded up (default 25 %). */
function surgeOf(maxSurge: number | string | undefined, replicas: number): number {
  if (typeof maxSurge === 'number') return maxSurge;
  const percent = /^(\d+)%$/.exec(maxSurge ?? '25%')?.[1];
  if (percent === undefined) return 1;
  return Math.ceil((Math.max(replicas, 1) * Number(percent)) / 100);
}
