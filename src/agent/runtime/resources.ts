import type { KubeObject } from '../../api/index.ts';
import { type ContainerShape, podSpecOf, replicasOf } from './pod-spec.ts';

/**
 * What a pod spec asks of the device in memory, CPU and disk, read as
 * Kubernetes reads it: each container's `resources.requests` and
 * `resources.limits` (a request defaults to its limit), the pod's QoS class,
 * and its priority. Shared by the runtimes (limits become cgroup limits) and
 * the agent's resource guard (requests are admitted against reserves, QoS and
 * priority order evictions).
 */

/** Kubernetes' QoS classes, in the order they are evicted. */
export const QOS_CLASSES = ['BestEffort', 'Burstable', 'Guaranteed'] as const;
export type QosClass = (typeof QOS_CLASSES)[number];

/** A container's limits in bytes and millicores; absent when not declared. */
export interface ContainerLimits {
  readonly memoryBytes?: number;
  readonly cpuMillis?: number;
}

/** What one unit (all replicas) requests of the device. */
export interface UnitRequests {
  readonly memoryBytes: number;
  readonly cpuMillis: number;
  readonly ephemeralStorageBytes: number;
}

const BINARY: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};
const DECIMAL: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

/**
 * A Kubernetes quantity as a number of base units (`128Mi` → 134217728,
 * `500m` → 0.5, `1e3` → 1000); undefined when it is not one.
 */
export function parseQuantity(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const match = /^\+?(\d+(?:\.\d*)?|\.\d+)(?:(Ki|Mi|Gi|Ti|Pi|Ei)|([numkMGTPE]?)|[eE]([+-]?\d+))$/.exec(
    value.trim(),
  );
  if (!match) return undefined;
  const number = Number(match[1]);
  if (match[2]) return number * BINARY[match[2]]!;
  if (match[4] !== undefined) return number * 10 ** Number(match[4]);
  return number * DECIMAL[match[3] ?? '']!;
}

interface ResourceList {
  memory?: number;
  cpu?: number;
  'ephemeral-storage'?: number;
}

function listOf(value: unknown): ResourceList {
  const out: ResourceList = {};
  if (typeof value !== 'object' || value === null) return out;
  for (const name of ['memory', 'cpu', 'ephemeral-storage'] as const) {
    const quantity = parseQuantity((value as Record<string, unknown>)[name]);
    if (quantity !== undefined) out[name] = quantity;
  }
  return out;
}

function resourcesOf(container: ContainerShape): { requests: ResourceList; limits: ResourceList } {
  const resources = (container.resources ?? {}) as { requests?: unknown; limits?: unknown };
  const limits = listOf(resources.limits);
  // As Kubernetes defaults them: a request not given is its limit.
  return { requests: { ...limits, ...listOf(resources.requests) }, limits };
}

/** A container's declared limits (memory in bytes, CPU in millicores). */
export function containerLimitsOf(container: ContainerShape): ContainerLimits {
  const { limits } = resourcesOf(container);
  return {
    ...(limits.memory !== undefined ? { memoryBytes: Math.ceil(limits.memory) } : {}),
    ...(limits.cpu !== undefined ? { cpuMillis: Math.ceil(limits.cpu * 1000) } : {}),
  };
}

/**
 * The QoS class of a pod spec as Kubernetes defines it (memory and CPU only):
 * Guaranteed when every container, init containers included, has memory and
 * CPU limits with requests equal to them; BestEffort when none has any
 * request or limit; Burstable otherwise.
 */
export function qosClassOf(object: KubeObject): QosClass {
  const { spec } = podSpecOf(object);
  const containers = [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
  let any = false;
  let guaranteed = containers.length > 0;
  for (const container of containers) {
    const { requests, limits } = resourcesOf(container);
    for (const name of ['memory', 'cpu'] as const) {
      if (requests[name] !== undefined || limits[name] !== undefined) any = true;
      if (limits[name] === undefined || requests[name] !== limits[name]) guaranteed = false;
    }
  }
  if (guaranteed) return 'Guaranteed';
  return any ? 'Burstable' : 'BestEffort';
}

/**
 * What a unit requests in all: per replica the larger of the containers' sum
 * and the largest init container (init containers run one at a time, before
 * the others), times its replicas.
 */
export function unitRequestsOf(object: KubeObject): UnitRequests {
  const { spec } = podSpecOf(object);
  const replicas = replicasOf(object);
  const total = (name: keyof ResourceList) => {
    const sum = (spec.containers ?? []).reduce((acc, c) => acc + (resourcesOf(c).requests[name] ?? 0), 0);
    const init = Math.max(0, ...(spec.initContainers ?? []).map((c) => resourcesOf(c).requests[name] ?? 0));
    return Math.max(sum, init) * replicas;
  };
  return {
    memoryBytes: Math.ceil(total('memory')),
    cpuMillis: Math.ceil(total('cpu') * 1000),
    ephemeralStorageBytes: Math.ceil(total('ephemeral-storage')),
  };
}

/** The built-in priority classes of Kubernetes, which need no PriorityClass object. */
export const SYSTEM_PRIORITIES: Readonly<Record<string, number>> = {
  'system-node-critical': 2_000_001_000,
  'system-cluster-critical': 2_000_000_000,
};

/** Priorities from this value on are critical: the guard never evicts them (kubelet's rule). */
export const CRITICAL_PRIORITY = 2_000_000_000;

/**
 * A pod's priority: `spec.priority` when set (Kubernetes' admission fills it
 * from the PriorityClass), else the built-in value of a `system-*-critical`
 * `priorityClassName`, else 0 (the device cannot resolve other
 * PriorityClass objects: the hub has none).
 */
export function priorityOf(object: KubeObject): number {
  const { spec } = podSpecOf(object);
  if (typeof spec.priority === 'number' && Number.isInteger(spec.priority)) return spec.priority;
  const name = spec.priorityClassName;
  return typeof name === 'string' ? (SYSTEM_PRIORITIES[name] ?? 0) : 0;
}

/**
 * The `oom_score_adj` kubelet gives a pod's processes, so that the kernel's
 * OOM killer follows the eviction order when it has to act first:
 * Guaranteed and critical pods -997, BestEffort 1000, Burstable 1000 less
 * its share of the device's memory in thousandths, within 2..999. (The
 * agent itself takes -999, as kubelet does.)
 */
export function oomScoreAdjOf(object: KubeObject, memoryCapacityBytes: number): number {
  if (priorityOf(object) >= CRITICAL_PRIORITY) return -997;
  const qos = qosClassOf(object);
  if (qos === 'Guaranteed') return -997;
  if (qos === 'BestEffort') return 1000;
  const request = unitRequestsOf(object).memoryBytes / replicasOf(object);
  const share = Math.floor((1000 * request) / Math.max(1, memoryCapacityBytes));
  return Math.min(999, Math.max(2, 1000 - share));
}

/** `bytes` in a short binary unit (`64Mi`, `1.5Gi`). */
export function formatBytes(bytes: number): string {
  for (const [unit, size] of [
    ['Gi', 2 ** 30],
    ['Mi', 2 ** 20],
    ['Ki', 2 ** 10],
  ] as const)
    if (bytes >= size) return `${Math.round((bytes / size) * 10) / 10}${unit}`;
  return `${bytes}`;
}
