import { hash } from 'node:crypto';
import type {
  ConfigMap,
  CronPolicy,
  KubeObject,
  MailboxSource,
  ObjectRef,
  RetryTiming,
  Secret,
  UpdateWindowSpec,
} from '../../api/index.ts';

/**
 * The contract between the agent's reconciler and a way of running workloads
 * on the device (`process`: supervised host processes; `podman`: `podman play
 * kube`). The reconciler is level-triggered: it calls `list()` for what runs,
 * compares it with the Mailbox, and calls `apply()` / `remove()` until they
 * agree. A runtime never talks to the hub.
 *
 * Units. A *unit* is one runnable object of the Mailbox (a Pod, a Deployment
 * or a StatefulSet) together with the ConfigMaps and Secrets it references.
 * ConfigMaps and Secrets are not units of their own: they travel inside every
 * unit that references them, and their content is part of the unit's hash, so
 * a changed ConfigMap replaces the units that use it.
 *
 * Identity. A unit is named by {@link unitIdOf}: the source Workload's
 * namespace and name plus the object's kind, namespace and name, so two
 * Workloads' objects never collide even if their names do. Runtimes put the
 * id (and the hash) on what they create — podman labels, the process
 * runtime's state files — which is how {@link Runtime.list} finds units again
 * after the agent restarts (adoption).
 */

/** The kinds that become units. */
export const UNIT_KINDS = ['Pod', 'Deployment', 'StatefulSet'] as const;
export type UnitKind = (typeof UNIT_KINDS)[number];

/** Whether a Mailbox object of this kind is run as a unit (else it is data: ConfigMap, Secret). */
export function isUnitKind(kind: string): kind is UnitKind {
  return (UNIT_KINDS as readonly string[]).includes(kind);
}

/**
 * The stable id of a unit: readable, safe as a file name, a podman pod name
 * prefix and a label value (`[a-z0-9-]`, at most 63 characters), and unique —
 * a short hash of the full identity is appended because the readable part is
 * lossy (dots, truncation).
 *
 * Example: `ns-a-web-deployment-api-v2-f63f1621`.
 */
export function unitIdOf(source: Pick<MailboxSource, 'namespace' | 'workload'>, ref: ObjectRef): string {
  const identity = [source.namespace, source.workload, ref.kind, ref.namespace ?? '', ref.name].join(
    '\u0000',
  );
  const digest = hash('sha256', identity, 'hex').slice(0, 8);
  const readable = [source.namespace, source.workload, ref.kind.toLowerCase(), ref.name]
    .map((part) => part.toLowerCase().replace(/[^a-z0-9-]+/g, '-'))
    .join('.')
    .replace(/\./g, '-')
    .slice(0, 63 - digest.length - 1)
    .replace(/-+$/, '');
  return `${readable}-${digest}`;
}

/** Everything a runtime needs to run one unit. Immutable once built. */
export interface DesiredUnit {
  /** {@link unitIdOf}(source, ref). */
  readonly id: string;
  /** The Workload and Placement the object comes from. */
  readonly source: MailboxSource;
  /** The object's identity on the device (kind, namespace, name). */
  readonly ref: ObjectRef;
  /** The Pod, Deployment or StatefulSet, customised for this device (as in the Mailbox). */
  readonly object: KubeObject;
  /** The Mailbox `hash` of `object`: what the agent reports back as `observedHash`. */
  readonly objectHash: string;
  /**
   * The hash that decides replacement: `objectHash` combined with the hashes
   * of the referenced ConfigMaps and Secrets and the rootless flag. A runtime
   * restarts the unit when (and only when) this changes.
   */
  readonly hash: string;
  /** ConfigMaps in the object's namespace that it references (by name); missing ones are absent. */
  readonly configMaps: ReadonlyMap<string, ConfigMap>;
  /** Secrets in the object's namespace that it references (by name); `data` values are base64. */
  readonly secrets: ReadonlyMap<string, Secret>;
  /** Run as the unprivileged user (podman); the process runtime ignores it. */
  readonly rootless: boolean;
  /** The Workload's retry policy (process runtime): replaces the default restart backoff. */
  readonly retry?: RetryTiming;
  /**
   * The Workload's schedule: the reconciler never applies this unit itself,
   * only its runs (units of their own, see reconcile/cron-runs.ts).
   */
  readonly cron?: CronPolicy;
  /** The device's update window for this rollout revision: it replaces a running unit only inside it. */
  readonly updateWindow?: UpdateWindowSpec;
}

/** The phases of a unit, as the Mailbox's `ObjectStatus.phase`. */
export type UnitPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

/**
 * How a unit stands, in the shape of the Mailbox's `ObjectStatus` (without
 * `ref`, `observedHash` and `lastTransitionTime`, which the reconciler adds).
 * For several replicas, the runtime sums `restarts` and reports the worst
 * replica's phase, reason and message; `ready` is true only when every
 * replica is ready.
 */
export interface UnitStatus {
  readonly phase: UnitPhase;
  readonly ready?: boolean;
  /** Restarts since the unit was last applied (summed over containers and replicas). */
  readonly restarts?: number;
  /** The last exit code of a container that exited, when one did. */
  readonly exitCode?: number;
  /** CamelCase, e.g. `CrashLoopBackOff`, `ImageNotFound`, `Completed`, `StartFailed`. */
  readonly reason?: string;
  /** Human-readable detail, at most a few hundred characters. */
  readonly message?: string;
  /** When a container that exited restarts next (ISO time), while one waits to. */
  readonly nextRetryTime?: string;
}

/** A unit as it runs on the device, whoever started it (this agent or one before it). */
export interface ActualUnit {
  readonly id: string;
  readonly source: MailboxSource;
  readonly ref: ObjectRef;
  /** `DesiredUnit.hash` of what runs. */
  readonly hash: string;
  /** `DesiredUnit.objectHash` of what runs. */
  readonly objectHash: string;
  readonly status: UnitStatus;
}

/** Options of {@link Runtime.logs}. */
export interface LogOptions {
  /** The container (default: the first container of the unit). */
  readonly container?: string;
  /** The replica index for a Deployment/StatefulSet (default 0). */
  readonly replica?: number;
  /** Only the last N lines of what is stored (default: all that is stored). */
  readonly tail?: number;
  /** Keep yielding new output until `signal` aborts (default false). */
  readonly follow?: boolean;
  /** Ends a follow; the iterator then returns. */
  readonly signal?: AbortSignal;
}

/** Options of {@link Runtime.close}. */
export interface CloseOptions {
  /**
   * Stop every unit as well (default false: workloads are the device's job
   * and keep running while the agent is down; the next agent adopts them).
   */
  readonly stopUnits?: boolean;
}

/**
 * A way of running units. Every method is idempotent and safe to call again
 * after a failure; methods may run concurrently for different unit ids, never
 * for the same id (the reconciler serialises per unit).
 *
 * Errors: `apply` throws only when it could not even try (e.g. the runtime's
 * data dir is unwritable); a unit that fails to start (bad command, image
 * not found) is *applied* and reports the failure in its status, so the
 * reconciler does not spin on it.
 */
export interface Runtime {
  /** `process` or `podman`. */
  readonly name: string;

  /**
   * Prepares the runtime and adopts what a previous agent left running: after
   * it resolves, {@link list} includes those units (supervised again, not
   * started twice). Called once before anything else.
   */
  start(): Promise<void>;

  /**
   * Makes `unit` run. Nothing happens when a unit with this id runs with the
   * same `hash`; when the hash differs, the old one is stopped and replaced.
   * Resolves once the unit is started (not necessarily ready).
   */
  apply(unit: DesiredUnit): Promise<void>;

  /**
   * Fetches what `unit` needs to start before it may be applied (it waits
   * for an update window), without touching what runs: podman copies its
   * images into the unit's store (a rootless store from the rootful one;
   * images are never pulled from a registry). Resolves with what is still
   * missing (image names), empty when the unit can start at once. Absent: the
   * runtime has nothing to fetch (process: executables are the device's own;
   * ConfigMaps and Secrets arrive in the Mailbox with the unit).
   */
  prefetch?(unit: DesiredUnit): Promise<readonly string[]>;

  /** Stops the unit and removes what the runtime made for it. Unknown ids are a no-op. */
  remove(id: string): Promise<void>;

  /** Every unit that exists on the device, with its current status. Cheap enough to call every few seconds. */
  list(): Promise<ActualUnit[]>;

  /**
   * Registers `listener`, called (without arguments, possibly often) when a
   * unit's status may have changed by itself: a process exited or restarted.
   * The reconciler then calls {@link list}. Returns the unsubscribe function.
   */
  onChange(listener: () => void): () => void;

  /**
   * A unit container's output (stdout and stderr interleaved as stored), as
   * text chunks made of whole lines. Throws `UnitNotFoundError` for an
   * unknown unit or container.
   */
  logs(id: string, options?: LogOptions): AsyncIterable<string>;

  /** Stops supervising (and, with `stopUnits`, stops every unit). The runtime is unusable afterwards. */
  close(options?: CloseOptions): Promise<void>;
}

/** A unit or container that does not exist on the device. */
export class UnitNotFoundError extends Error {
  constructor(
    readonly id: string,
    container?: string,
  ) {
    super(container ? `unit ${id} has no container ${container}` : `unit ${id} not found`);
    this.name = 'UnitNotFoundError';
  }
}
