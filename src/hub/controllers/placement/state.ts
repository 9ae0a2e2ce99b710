import type { KubeObject, Placement, Workload } from '../../../api/index.ts';
import { canonicalJson } from '../../../util/index.ts';
import { WorkloadRenderer } from './render.ts';
import type { BatchPlan } from './rollout-plan.ts';
import { DeviceLabelIndex } from './selection.ts';

const versions = new WeakMap<object, string>();

/** `uid/generation`: changes when an object's spec changes or it is recreated, not on status writes. */
export function specVersion(object: KubeObject | undefined): string | undefined {
  if (!object) return undefined;
  let version = versions.get(object);
  if (version === undefined) {
    version = `${object.metadata.uid ?? ''}/${object.metadata.generation ?? 0}`;
    if (Object.isFrozen(object)) versions.set(object, version);
  }
  return version;
}

const signatures = new WeakMap<object, string>();

/** What rendering reads of a device (labels, annotations, profiles): a change of it means re-rendering. Cached per (frozen) cached object. */
export function parametersSignature(device: KubeObject): string {
  let signature = signatures.get(device);
  if (signature === undefined) {
    // The profiles and update window too: the Mailbox carries them to the agent.
    const spec = device.spec as { profiles?: unknown; updateWindow?: unknown } | undefined;
    signature = canonicalJson([
      device.metadata.labels ?? {},
      device.metadata.annotations ?? {},
      spec?.profiles ?? [],
      ...(spec?.updateWindow ? [spec.updateWindow] : []),
    ]);
    if (Object.isFrozen(device)) signatures.set(device, signature);
  }
  return signature;
}

/**
 * The inputs a device's Mailbox was last rendered from, and the Mailbox it
 * was rendered into: what tells a summary that a Mailbox is up to date, and
 * the mailbox reconciler that there is nothing to compose.
 */
export interface RenderStamps {
  /** The device's {@link parametersSignature}. */
  readonly device: string;
  /** The {@link specVersion} of every Placement selecting the device, by `namespace/name`. */
  readonly placements: ReadonlyMap<string, string>;
  /** The {@link specVersion} of every Workload placed on the device, by `namespace/name`. */
  readonly workloads: ReadonlyMap<string, string>;
  /** The rollout revision rendered for every Placement that rolls out by revisions, by `namespace/name`. */
  readonly revisions?: ReadonlyMap<string, number>;
  /** The Mailbox's resourceVersion as written (or found unchanged); absent while rendering. */
  readonly mailbox?: string;
}

/**
 * In-memory state the placement reconcilers share, all derived from the
 * informer caches (rebuilt from them after a restart):
 *
 * - devices indexed by label, so that a Placement finds its devices without
 *   scanning all of them;
 * - one {@link WorkloadRenderer} per (Placement, Workload) at their current
 *   spec versions, so that a change re-renders only what it touches;
 * - per device, the inputs its Mailbox was last rendered from, so that the
 *   status summaries can tell a Mailbox that is up to date from one still
 *   waiting for its reconcile (and never report a rollout Ready on stale
 *   content).
 */
export class PlacementCaches {
  readonly devices = new DeviceLabelIndex();
  readonly #renderers = new Map<string, { version: string; renderer: WorkloadRenderer }>();
  readonly #stamps = new Map<string, RenderStamps>();
  readonly #revisionRenderers = new Map<string, { version: string; renderer: WorkloadRenderer }>();
  readonly #plans = new Map<string, { version: string; plan: BatchPlan }>();

  /**
   * The renderer of a Workload as a rollout revision recorded it, for a
   * Placement's devices at its current spec (a revision's content never
   * changes: only the Placement's overrides can).
   */
  revisionRenderer(placement: KubeObject, revision: number, workload: KubeObject): WorkloadRenderer {
    const key = `${placement.metadata.namespace}/${placement.metadata.name}|${revision}|${workload.metadata.name}`;
    const version = specVersion(placement)!;
    const cached = this.#revisionRenderers.get(key);
    if (cached?.version === version) return cached.renderer;
    const renderer = new WorkloadRenderer(placement as unknown as Placement, workload as unknown as Workload);
    this.#revisionRenderers.set(key, { version, renderer });
    return renderer;
  }

  /**
   * A Placement's batch plan, computed once per Placement spec (its
   * generation: the rollout's status writes leave the plan as it is), device
   * index version and version of its namespace's DeviceBoundaries
   * (`boundsVersion`). Every device's reconcile and every rollout pass asks
   * for it; at 10,000 devices computing it is a sort and a selector match
   * per device.
   */
  batchPlan(placement: KubeObject, boundsVersion: string, compute: () => BatchPlan): BatchPlan {
    const key = `${placement.metadata.namespace}/${placement.metadata.name}`;
    const version = `${specVersion(placement)}|${this.devices.version}|${boundsVersion}`;
    const cached = this.#plans.get(key);
    if (cached?.version === version) return cached.plan;
    const plan = compute();
    this.#plans.set(key, { version, plan });
    return plan;
  }

  /** The renderer of a Workload's objects for a Placement's devices, at their current specs. */
  renderer(placement: KubeObject, workload: KubeObject): WorkloadRenderer {
    const key = `${placement.metadata.namespace}/${placement.metadata.name}|${workload.metadata.name}`;
    const version = `${specVersion(placement)}|${specVersion(workload)}`;
    const cached = this.#renderers.get(key);
    if (cached?.version === version) return cached.renderer;
    const renderer = new WorkloadRenderer(placement as unknown as Placement, workload as unknown as Workload);
    this.#renderers.set(key, { version, renderer });
    return renderer;
  }

  /** Drops the renderers of a deleted Placement (`ns/name`) or Workload. */
  forgetRenderers(kind: 'Placement' | 'Workload', namespace: string, name: string): void {
    for (const key of this.#renderers.keys()) {
      const [placementKey, workloadName] = key.split('|') as [string, string];
      const matches =
        kind === 'Placement'
          ? placementKey === `${namespace}/${name}`
          : placementKey.startsWith(`${namespace}/`) && workloadName === name;
      if (matches) this.#renderers.delete(key);
    }
    if (kind === 'Placement') {
      this.#plans.delete(`${namespace}/${name}`);
      for (const key of this.#revisionRenderers.keys()) {
        if (key.startsWith(`${namespace}/${name}|`)) this.#revisionRenderers.delete(key);
      }
    }
  }

  /** Records what the device's Mailbox was rendered from and into. */
  setStamps(device: string, stamps: RenderStamps): void {
    this.#stamps.set(device, stamps);
  }

  /** Forgets the device's stamps (it has no Mailbox of ours any more). */
  forgetStamps(device: string): void {
    this.#stamps.delete(device);
  }

  /** What the device's Mailbox was last rendered from and into; undefined when not (yet) rendered. */
  stampsOf(device: string): RenderStamps | undefined {
    return this.#stamps.get(device);
  }

  forgetDevice(device: string): void {
    this.#stamps.delete(device);
    this.devices.delete(device);
  }
}
