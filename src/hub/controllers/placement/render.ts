import {
  type CronPolicy,
  cronPolicy,
  type ExclusionReason,
  type KubeObject,
  type ObjectRef,
  type Placement,
  type RetryTiming,
  retryTiming,
  type Workload,
  type WorkloadUpload,
} from '../../../api/index.ts';
import { checkPod, declaredPods } from '../../admission/index.ts';
import { applyJsonPatch, PatchError } from '../../kube-api/index.ts';
import { contentHash } from './hash.ts';
import { type LabelSelectorShape, selects } from './selection.ts';
import {
  type DeviceParameters,
  expand,
  isTemplated,
  MissingParameterError,
  parametersOf,
  parameterValue,
} from './template.ts';

/** One object of a Workload as customised for one device, or why it cannot be. */
export type RenderResult =
  | {
      readonly ok: true;
      readonly object: KubeObject;
      readonly hash: string;
      /** Set on the runnable objects (Pod, Deployment, StatefulSet) of a `rootless` Workload. */
      readonly rootless?: true;
      /** The Workload's retry policy, on its runnable objects. */
      readonly retry?: RetryTiming;
      /** The Workload's schedule with its defaults, on its Pods. */
      readonly cron?: CronPolicy;
      /** The Workload's uploads, on its runnable objects. */
      readonly uploads?: readonly WorkloadUpload[];
    }
  | { readonly ok: false; readonly reason: Exclude<ExclusionReason, 'Conflict'>; readonly message: string };

type Override = NonNullable<NonNullable<Placement['spec']['customization']>['overrides']>[number];

/** The result after overrides, before parameters: shared by every device with the same overrides. */
interface Patched {
  readonly object?: KubeObject;
  readonly error?: string;
  readonly parameters: readonly string[];
  /** Whether any string holds `${` (a parameter or an escape) and needs expanding. */
  readonly templated: boolean;
  /** Results by parameter values; dropped once it grows past {@link MAX_CACHED} (e.g. `${device.name}`). */
  readonly byValues: Map<string, RenderResult> | undefined;
  /** The content hash of what rendering reads besides parameter values (see {@link renderKey}); set on first use. */
  fingerprint?: string;
}

/**
 * What each rendered object was rendered from: its {@link renderKey} and the result. A
 * device's Mailbox holds the rendered objects themselves (the Mailbox informer caches the
 * object the controller wrote), so a later compose finds here which of its previous objects
 * can be taken as they are, without expanding and hashing again: after a change of one
 * input (a Placement's override), renderers are new for every Workload it places, but only
 * the objects the change touched are rendered anew. Weak: gone with the Mailbox's objects.
 */
const renderedFrom = new WeakMap<object, { readonly key: string; readonly result: RenderResult }>();

/**
 * Previous results of a device by their {@link renderKey}, from the objects of its Mailbox
 * (those rendered in this process; a Mailbox read after a restart has none).
 */
export function previousResults(objects: Iterable<{ readonly object: object }>): Map<string, RenderResult> {
  const results = new Map<string, RenderResult>();
  for (const { object } of objects) {
    const from = renderedFrom.get(object);
    if (from) results.set(from.key, from.result);
  }
  return results;
}

/** Per object and override set, at most this many parameter combinations are cached. */
const MAX_CACHED = 1024;

/** The kinds that run containers, hence the ones `spec.rootless` and `spec.profiles` are about. */
const RUNNABLE_KINDS: ReadonlySet<string> = new Set(['Pod', 'Deployment', 'StatefulSet']);

/** Whether objects of `kind` run containers. */
export function isRunnable(kind: string): boolean {
  return RUNNABLE_KINDS.has(kind);
}

/**
 * Renders the objects of one Workload for the devices of one Placement:
 * the Workload's namespace filled in, the Placement's overrides applied (in
 * order, those whose deviceSelector matches the device and whose target
 * matches the object as written), then `${device...}` parameters expanded.
 *
 * Results are cached by what they depend on (the overrides that apply and the
 * values of the parameters used), so that 10,000 devices with a handful of
 * distinct sites cost a handful of renders and hashes. A renderer is valid for
 * one generation of the Placement and of the Workload.
 */
export class WorkloadRenderer {
  readonly objects: readonly KubeObject[];
  readonly refs: readonly ObjectRef[];
  /** The Workload's `spec.rootless`: its runnable objects run as the agent's unprivileged user. */
  readonly rootless: boolean;
  /** The Workload's `spec.profiles`: its runnable objects run only while these conditions hold on the device. */
  readonly profiles: Workload['spec']['profiles'];
  /** The Workload's `spec.retry` in milliseconds: its runnable objects restart by it. */
  readonly retry: RetryTiming | undefined;
  /** The Workload's `spec.cron` with its defaults: its Pods run on this schedule. */
  readonly cron: CronPolicy | undefined;
  /** The Workload's `spec.uploads`, when any. */
  readonly uploads: readonly WorkloadUpload[] | undefined;
  readonly #overrides: readonly Override[];
  /** For each object, the indexes of the overrides whose target matches it. */
  readonly #targeted: readonly (readonly number[])[];
  readonly #patched: Map<string, Patched>[];

  constructor(placement: Pick<Placement, 'spec'>, workload: Pick<Workload, 'spec' | 'metadata'>) {
    const namespace = workload.metadata?.namespace;
    this.objects = (workload.spec?.resources ?? []).map((resource) => {
      const object = structuredClone(resource) as KubeObject;
      // Every kind a Workload holds is namespaced: the Workload's namespace unless it names one.
      if (!object.metadata.namespace && namespace) object.metadata = { ...object.metadata, namespace };
      return object;
    });
    this.refs = this.objects.map(refOf);
    this.rootless = workload.spec?.rootless === true;
    this.profiles = workload.spec?.profiles?.length ? workload.spec.profiles : undefined;
    this.retry = workload.spec?.retry ? retryTiming(workload.spec.retry) : undefined;
    this.cron = workload.spec?.cron ? cronPolicy(workload.spec.cron) : undefined;
    this.uploads = workload.spec?.uploads?.length ? workload.spec.uploads : undefined;
    this.#overrides = placement.spec?.customization?.overrides ?? [];
    this.#targeted = this.objects.map((object) =>
      this.#overrides.flatMap((override, index) => (targets(override, object) ? [index] : [])),
    );
    this.#patched = this.objects.map(() => new Map());
  }

  /**
   * Renders object `index` for a device. `previous` ({@link previousResults}): the device's
   * earlier results, one of which is answered when it was rendered from the same inputs.
   */
  render(
    index: number,
    device: DeviceParameters,
    previous?: ReadonlyMap<string, RenderResult>,
  ): RenderResult {
    const applying = this.#targeted[index]!.filter((i) =>
      selects(this.#overrides[i]!.deviceSelector as LabelSelectorShape, device.labels),
    );
    const overrideKey = applying.join(',');
    const cache = this.#patched[index]!;
    let patched = cache.get(overrideKey);
    if (!patched) {
      patched = this.#patch(index, applying);
      cache.set(overrideKey, patched);
    }
    if (patched.error !== undefined) return { ok: false, reason: 'PatchFailed', message: patched.error };
    let valuesKey = '';
    try {
      for (const parameter of patched.parameters) valuesKey += `${parameterValue(parameter, device)}\u0000`;
    } catch (error) {
      if (!(error instanceof MissingParameterError)) throw error;
      return { ok: false, reason: 'MissingParameter', message: missingMessage(error.parameter) };
    }
    const cached = patched.byValues?.get(valuesKey);
    if (cached) return cached;
    const key = this.#renderKey(patched, valuesKey);
    const kept = previous?.get(key);
    if (kept) return kept;
    const object = patched.templated ? expand(patched.object!, device) : patched.object!;
    // Rootless is part of the content: turning it on or off changes the hash, so the device replaces the unit.
    const runnable = RUNNABLE_KINDS.has(object.kind);
    const rootless = this.rootless && runnable;
    const retry = runnable ? this.retry : undefined;
    const cron = runnable ? this.cron : undefined;
    // Uploads mount a directory into the containers: part of the content, as rootless is.
    const uploads = runnable ? this.uploads : undefined;
    // Retry is part of the content too: a changed policy replaces the unit, whose count starts again.
    // So is the schedule (its runs already started go on: a run is never replaced).
    const result: RenderResult =
      rootless || retry || cron || uploads
        ? {
            ok: true,
            object,
            hash: contentHash({
              ...(rootless ? { rootless: true } : {}),
              ...(retry ? { retry } : {}),
              ...(cron ? { cron } : {}),
              ...(uploads ? { uploads } : {}),
              object,
            }),
            ...(rootless ? { rootless: true as const } : {}),
            ...(retry ? { retry } : {}),
            ...(cron ? { cron } : {}),
            ...(uploads ? { uploads } : {}),
          }
        : { ok: true, object, hash: contentHash(object) };
    if (patched.byValues) {
      if (patched.byValues.size < MAX_CACHED) patched.byValues.set(valuesKey, result);
      else (patched as { byValues: Map<string, RenderResult> | undefined }).byValues = undefined;
    }
    renderedFrom.set(object, { key, result });
    return result;
  }

  /**
   * What a result depends on, as text: the object after overrides (before parameters), the
   * Workload's settings that are part of the content, and the values of the parameters it
   * uses. Equal keys give equal results, whichever renderer (Placement and Workload
   * generation) made them.
   */
  #renderKey(patched: Patched, valuesKey: string): string {
    patched.fingerprint ??= contentHash({
      object: patched.object,
      rootless: this.rootless,
      retry: this.retry ?? null,
      cron: this.cron ?? null,
      uploads: this.uploads ?? null,
    });
    return `${patched.fingerprint}\u0000${valuesKey}`;
  }

  #patch(index: number, applying: readonly number[]): Patched {
    let object: unknown = this.objects[index]!;
    for (const i of applying) {
      try {
        object = applyJsonPatch(object, this.#overrides[i]!.patch);
      } catch (error) {
        if (!(error instanceof PatchError)) throw error;
        return {
          error: `override ${i} cannot apply: ${error.message}`,
          parameters: [],
          templated: false,
          byValues: undefined,
        };
      }
    }
    const result = object as KubeObject;
    if (typeof result !== 'object' || result === null || typeof result.metadata?.name !== 'string') {
      return {
        error: 'overrides left no object with a name',
        parameters: [],
        templated: false,
        byValues: undefined,
      };
    }
    const forbidden = applying.length > 0 ? addedViolation(this.objects[index]!, result) : undefined;
    if (forbidden !== undefined) {
      return {
        error: `overrides ${applying.join(', ')} cannot apply: they would add what Pod Security forbids (${forbidden})`,
        parameters: [],
        templated: false,
        byValues: undefined,
      };
    }
    return {
      object: result,
      parameters: [...parametersOf(result)].sort(),
      templated: isTemplated(result),
      byValues: new Map(),
    };
  }
}

/**
 * The first baseline Pod Security violation the overrides added to an object
 * (`field: message`), if any. Overrides are a second way to write a pod, so
 * they may not add what the Workload's own admission would have refused:
 * privileged containers, host namespaces, hostPath volumes... A violation the
 * Workload already carries (admitted in its namespace, or written by the
 * exempt OPC UA renderer) is not the overrides' doing. Checked before
 * `${device...}` parameters: they only ever produce strings, which the check
 * already counts as violations in any field that wants a boolean or a number.
 */
function addedViolation(original: KubeObject, patched: KubeObject): string | undefined {
  const violations = (object: KubeObject) =>
    declaredPods([object], 'object').flatMap((pod) =>
      checkPod(pod, 'baseline', pod.paths).map(
        (cause) => `${cause.field.replace(/^object\[0\]\./, '')}: ${cause.message}`,
      ),
    );
  const before = new Set(violations(original));
  return violations(patched).find((violation) => !before.has(violation));
}

function targets(override: Override, object: KubeObject): boolean {
  if (override.target?.kind !== undefined && override.target.kind !== object.kind) return false;
  if (override.target?.name !== undefined && override.target.name !== object.metadata.name) return false;
  return true;
}

/** The ref of an object (as written in the Workload, namespace filled in). */
export function refOf(object: KubeObject): ObjectRef {
  const ref: ObjectRef = {
    apiVersion: object.apiVersion,
    kind: object.kind,
    name: object.metadata.name ?? '',
  };
  if (object.metadata.namespace) ref.namespace = object.metadata.namespace;
  return ref;
}

function missingMessage(parameter: string): string {
  const known = /^device\.(name|labels\..+|annotations\..+)$/.test(parameter);
  return known
    ? `\${${parameter}} is not set on this device`
    : `\${${parameter}} is not a known parameter (device.name, device.labels.KEY, device.annotations.KEY)`;
}
