/**
 * ClusterRole aggregation, as Kubernetes has it: a ClusterRole with an
 * `aggregationRule` holds the rules of every other ClusterRole its selectors
 * match, so that a new kind can extend a built-in role by labelling a small
 * ClusterRole of its own. The rules are computed here (pure); the
 * `clusterrole-aggregation` controller writes them into the stored object.
 */
import { isDeepStrictEqual } from 'node:util';
import { type KubeObject, matchesLabels, type PolicyRule, selectorRequirements } from '../../api/index.ts';

type LabelSelector = Parameters<typeof selectorRequirements>[0];

/** The label that adds a ClusterRole's rules to `outpost:workload-team`. */
export const AGGREGATE_TO_WORKLOAD_TEAM = 'rbac.outpost.dev/aggregate-to-workload-team';

/** The selectors of a ClusterRole's aggregationRule; empty when it aggregates nothing. */
export function aggregationSelectors(role: KubeObject): LabelSelector[] {
  const rule = role.aggregationRule as { clusterRoleSelectors?: LabelSelector[] } | undefined;
  return rule?.clusterRoleSelectors ?? [];
}

/** Whether a ClusterRole's rules are gathered from others. */
export function isAggregating(role: KubeObject): boolean {
  return aggregationSelectors(role).length > 0;
}

/**
 * The rules an aggregating ClusterRole should hold: for each selector in
 * order, the rules of the other ClusterRoles it matches, by name, each rule
 * once. Roles being deleted still count until they are gone, as in Kubernetes.
 */
export function aggregatedRules(role: KubeObject, clusterRoles: Iterable<KubeObject>): PolicyRule[] {
  const candidates = [...clusterRoles]
    .filter((other) => other.metadata.name !== role.metadata.name)
    .sort((a, b) => compare(a.metadata.name ?? '', b.metadata.name ?? ''));
  const rules: PolicyRule[] = [];
  for (const selector of aggregationSelectors(role)) {
    const requirements = selectorRequirements(selector);
    for (const other of candidates) {
      if (!matchesLabels(requirements, other.metadata.labels)) continue;
      for (const rule of (other.rules as PolicyRule[] | undefined) ?? []) {
        if (!rules.some((known) => isDeepStrictEqual(known, rule))) rules.push(structuredClone(rule));
      }
    }
  }
  return rules;
}

/** Whether two rule lists are the same (absent and empty alike). */
export function sameRules(a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(a ?? [], b ?? []);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
