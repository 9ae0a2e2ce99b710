import {
  type FieldRequirement,
  type KindDefinition,
  type KubeObject,
  type LabelRequirement,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
  SelectorError,
} from '../../../api/index.ts';
import type { StoredObject } from '../../../store/index.ts';
import { errors } from '../errors.ts';

/** The list parameters of a request. */
export interface ListQuery {
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  readonly limit?: number;
  readonly continue?: string;
  /** The revision to list at (`resourceVersionMatch=Exact`); the head when absent. */
  readonly revision?: number;
}

/** A parsed selector pair that tells whether an object is selected. */
export interface ObjectMatcher {
  readonly matches: (object: KubeObject) => boolean;
  /** Whether it selects everything (no parsing of values needed). */
  readonly everything: boolean;
}

/** Parses the selectors of a query for a kind; unknown fields and bad syntax are 400s. */
export function objectMatcher(
  def: KindDefinition,
  query: Pick<ListQuery, 'labelSelector' | 'fieldSelector'>,
): ObjectMatcher {
  let labels: LabelRequirement[];
  let fields: FieldRequirement[];
  try {
    labels = parseLabelSelector(query.labelSelector ?? '');
    fields = parseFieldSelector(query.fieldSelector ?? '');
  } catch (error) {
    if (error instanceof SelectorError) throw errors.badRequest(error.message);
    throw error;
  }
  const getters = fields.map((requirement) => {
    const getter = fieldGetter(def, requirement.field);
    if (!getter) {
      throw errors.badRequest(
        `"${requirement.field}" is not a known field selector: only "metadata.name", "metadata.namespace"${Object.keys(
          def.fieldSelectors ?? {},
        )
          .map((name) => `, "${name}"`)
          .join('')}`,
      );
    }
    return { requirement, getter };
  });
  const everything = labels.length === 0 && getters.length === 0;
  return {
    everything,
    matches: (object) =>
      matchesLabels(labels, object.metadata.labels) &&
      getters.every(({ requirement, getter }) => {
        const value = getter(object) ?? '';
        return requirement.operator === '=' ? value === requirement.value : value !== requirement.value;
      }),
  };
}

function fieldGetter(
  def: KindDefinition,
  field: string,
): ((object: KubeObject) => string | undefined) | undefined {
  if (field === 'metadata.name') return (object) => object.metadata.name;
  if (field === 'metadata.namespace') return (object) => object.metadata.namespace;
  return def.fieldSelectors?.[field];
}

/** A store filter for the query's selectors, or undefined when it selects everything. */
export function objectFilter(
  def: KindDefinition,
  query: ListQuery,
): ((stored: StoredObject) => boolean) | undefined {
  const matcher = objectMatcher(def, query);
  if (matcher.everything) return undefined;
  return (stored) => matcher.matches(JSON.parse(stored.value) as KubeObject);
}
