import type { DeviceBoundary, KubeObject } from '../../../api/index.ts';
import type { Informer } from '../../../controller/index.ts';
import { type Condition, MAX_NAMED } from './conditions.ts';
import { selects } from './selection.ts';

/** The informer index of DeviceBoundaries by the namespaces they bound. */
export const BOUNDED_NAMESPACE_INDEX = 'placement:bounded-namespace';

/** The namespaces a DeviceBoundary bounds (its index function). */
export function boundedNamespaces(boundary: KubeObject): string[] {
  return [...((boundary.spec as Partial<DeviceBoundary['spec']> | undefined)?.namespaces ?? [])];
}

/**
 * Which devices the Placements of each namespace may select, from the
 * DeviceBoundaries in the informer's cache: a device is allowed to a
 * namespace when every boundary naming the namespace selects it. A namespace
 * no boundary names is unrestricted, unless bounds are `required` (the hub's
 * `--require-device-bounds`): then it may select no device at all, so that a
 * namespace an admin forgot to bound fails closed.
 *
 * A boundary being deleted still applies until it is gone: removing a bound
 * is the admin's decision, taken when the object disappears.
 */
export class DeviceBounds {
  readonly #boundaries: Informer;
  readonly #required: boolean;

  /** `boundaries` must have the {@link BOUNDED_NAMESPACE_INDEX} index. */
  constructor(boundaries: Informer, required = false) {
    this.#boundaries = boundaries;
    this.#required = required;
  }

  /** The boundaries naming `namespace`, by name. */
  of(namespace: string): KubeObject[] {
    return this.#boundaries
      .byIndex(BOUNDED_NAMESPACE_INDEX, namespace)
      .sort((a, b) => ((a.metadata.name ?? '') < (b.metadata.name ?? '') ? -1 : 1));
  }

  /** Changes whenever a boundary of `namespace` does (their resourceVersions): memos of `allows` key on it. */
  version(namespace: string): string {
    return this.#boundaries
      .byIndex(BOUNDED_NAMESPACE_INDEX, namespace)
      .map((b) => `${b.metadata.name}@${b.metadata.resourceVersion}`)
      .sort()
      .join(',');
  }

  /** Whether the Placements of `namespace` may select a device with these labels. */
  allows(namespace: string, labels: Readonly<Record<string, string>> | undefined): boolean {
    const boundaries = this.#boundaries.byIndex(BOUNDED_NAMESPACE_INDEX, namespace);
    if (boundaries.length === 0) return !this.#required;
    return boundaries.every((boundary) => selects(specOf(boundary).deviceSelector, labels));
  }

  /**
   * A Placement's `DevicesExcluded` condition: True, with the count and at
   * most {@link MAX_NAMED} names, when devices its deviceSelector matches
   * were left out by its namespace's bounds (`OutsideDeviceBoundary`, or
   * `NoDeviceBoundary` when bounds are required and the namespace has none);
   * False otherwise (`WithinDeviceBoundary`, or `Unbounded`).
   */
  condition(namespace: string, excluded: readonly string[]): Condition {
    const boundaries = this.of(namespace).map((b) => b.metadata.name!);
    const named = boundaries.length === 1 ? 'DeviceBoundary' : 'DeviceBoundaries';
    const which = `the ${named} of namespace ${namespace} (${boundaries.join(', ')})`;
    if (excluded.length === 0) {
      return boundaries.length === 0
        ? {
            type: 'DevicesExcluded',
            status: 'False',
            reason: 'Unbounded',
            message: `no DeviceBoundary names namespace ${namespace}: every device may be selected`,
          }
        : {
            type: 'DevicesExcluded',
            status: 'False',
            reason: 'WithinDeviceBoundary',
            message: `every matched device is within ${which}`,
          };
    }
    const count = `${excluded.length} device${excluded.length === 1 ? '' : 's'} matched by spec.deviceSelector`;
    const sorted = [...excluded].sort();
    const more = sorted.length > MAX_NAMED ? ` and ${sorted.length - MAX_NAMED} more` : '';
    const names = `${sorted.slice(0, MAX_NAMED).join(', ')}${more}`;
    if (boundaries.length === 0) {
      return {
        type: 'DevicesExcluded',
        status: 'True',
        reason: 'NoDeviceBoundary',
        message: `${count} excluded: namespace ${namespace} has no DeviceBoundary and the hub requires one: ${names}`,
      };
    }
    return {
      type: 'DevicesExcluded',
      status: 'True',
      reason: 'OutsideDeviceBoundary',
      message: `${count} excluded, outside ${which}: ${names}`,
    };
  }
}

function specOf(boundary: KubeObject): Partial<DeviceBoundary['spec']> {
  return (boundary.spec ?? {}) as Partial<DeviceBoundary['spec']>;
}
