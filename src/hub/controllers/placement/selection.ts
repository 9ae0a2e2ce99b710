import { type LabelRequirement, matchesLabels, selectorRequirements } from '../../../api/index.ts';

/** A label selector as Placements and overrides carry it. */
export interface LabelSelectorShape {
  readonly matchLabels?: Readonly<Record<string, string>>;
  readonly matchExpressions?: ReadonlyArray<{
    readonly key: string;
    readonly operator: string;
    readonly values?: readonly string[];
  }>;
}

const compiled = new WeakMap<object, LabelRequirement[]>();

/** The requirements of a selector, compiled once per selector object. */
export function requirementsOf(selector: LabelSelectorShape | undefined): LabelRequirement[] {
  if (!selector) return [];
  let requirements = compiled.get(selector);
  if (!requirements) {
    requirements = selectorRequirements(selector as Parameters<typeof selectorRequirements>[0]);
    compiled.set(selector, requirements);
  }
  return requirements;
}

/** Whether labels satisfy a selector (an empty or missing selector selects everything). */
export function selects(
  selector: LabelSelectorShape | undefined,
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  return matchesLabels(requirementsOf(selector), labels);
}

/** A Placement's workload selector: names and/or labels, ANDed; empty selects every Workload. */
export interface WorkloadSelectorShape extends LabelSelectorShape {
  readonly names?: readonly string[];
}

/** Whether a Placement's workload selector selects a Workload of its namespace. */
export function selectsWorkload(
  selector: WorkloadSelectorShape | undefined,
  workload: { readonly name: string; readonly labels?: Readonly<Record<string, string>> },
): boolean {
  if (selector?.names && selector.names.length > 0 && !selector.names.includes(workload.name)) return false;
  return selects(selector, workload.labels);
}

/**
 * Devices indexed by label, so that a selector finds its devices without
 * looking at all of them: the candidates are the smallest set named by one
 * of its `In` or `Exists` requirements, then every requirement is checked.
 */
export class DeviceLabelIndex {
  readonly #labels = new Map<string, Readonly<Record<string, string>>>();
  /** `key=value` → device names. */
  readonly #byPair = new Map<string, Set<string>>();
  /** `key` → device names having the label. */
  readonly #byKey = new Map<string, Set<string>>();
  #version = 0;
  /** Selections since the last change, by selector object. */
  #selections = new WeakMap<object, readonly string[]>();

  /** Counts changes: a selection made at one version holds until the next. */
  get version(): number {
    return this.#version;
  }

  /** Records (or updates) a device's labels. */
  set(name: string, labels: Readonly<Record<string, string>> | undefined): void {
    this.delete(name);
    this.#changed();
    const copy = { ...(labels ?? {}) };
    this.#labels.set(name, copy);
    for (const [key, value] of Object.entries(copy)) {
      addTo(this.#byPair, `${key}=${value}`, name);
      addTo(this.#byKey, key, name);
    }
  }

  delete(name: string): void {
    const labels = this.#labels.get(name);
    if (!labels) return;
    this.#changed();
    this.#labels.delete(name);
    for (const [key, value] of Object.entries(labels)) {
      removeFrom(this.#byPair, `${key}=${value}`, name);
      removeFrom(this.#byKey, key, name);
    }
  }

  get size(): number {
    return this.#labels.size;
  }

  labelsOf(name: string): Readonly<Record<string, string>> | undefined {
    return this.#labels.get(name);
  }

  #changed(): void {
    this.#version++;
    this.#selections = new WeakMap();
  }

  /**
   * {@link select}, remembered per selector object until the index changes
   * (a summary over 10,000 devices selects them once, not on every run).
   * The answer is shared: do not change it.
   */
  selectCached(selector: LabelSelectorShape | undefined): readonly string[] {
    if (!selector) return this.select(selector);
    let selected = this.#selections.get(selector);
    if (!selected) {
      selected = this.select(selector);
      this.#selections.set(selector, selected);
    }
    return selected;
  }

  /** The names of the devices a selector selects (unordered). */
  select(selector: LabelSelectorShape | undefined): string[] {
    const requirements = requirementsOf(selector);
    let candidates: Iterable<string> = this.#labels.keys();
    let smallest = Number.POSITIVE_INFINITY;
    for (const requirement of requirements) {
      let set: Set<string> | string[] | undefined;
      if (requirement.operator === 'Exists') set = this.#byKey.get(requirement.key) ?? new Set();
      else if (requirement.operator === 'In') {
        set =
          requirement.values.length === 1
            ? (this.#byPair.get(`${requirement.key}=${requirement.values[0]}`) ?? new Set())
            : requirement.values.flatMap((value) => [
                ...(this.#byPair.get(`${requirement.key}=${value}`) ?? []),
              ]);
      }
      const size = set === undefined ? Number.POSITIVE_INFINITY : Array.isArray(set) ? set.length : set.size;
      if (set !== undefined && size < smallest) {
        smallest = size;
        candidates = set;
      }
    }
    const selected: string[] = [];
    for (const name of candidates) {
      if (matchesLabels(requirements, this.#labels.get(name))) selected.push(name);
    }
    return selected;
  }
}

function addTo(map: Map<string, Set<string>>, key: string, name: string): void {
  let set = map.get(key);
  if (!set) {
    set = new Set();
    map.set(key, set);
  }
  set.add(name);
}

function removeFrom(map: Map<string, Set<string>>, key: string, name: string): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(name);
  if (set.size === 0) map.delete(key);
}
