/**
 * RBAC's privilege-escalation rule, as the apiserver's `rbac/validation`
 * package has it: a caller may grant (in a Role it writes, or through a
 * binding it writes) only permissions it already holds. Pure functions: which
 * rules a set of rules covers, and the apiserver's wording of what is missing.
 */
import type { PolicyRule } from '../../api/index.ts';

const ALL = '*';

/** Everything: what it takes to write a ClusterRole with an aggregationRule. */
export const FULL_AUTHORITY: readonly PolicyRule[] = [
  { verbs: [ALL], apiGroups: [ALL], resources: [ALL] },
  { verbs: [ALL], nonResourceURLs: [ALL] },
];

/** Whether `owner` rules cover every permission of `servant` rules, and the permissions they do not. */
export function covers(
  owner: readonly PolicyRule[],
  servant: readonly PolicyRule[],
): { covered: boolean; missing: PolicyRule[] } {
  const missing: PolicyRule[] = [];
  for (const rule of servant) {
    for (const atom of breakdownRule(rule)) {
      if (!owner.some((candidate) => ruleCovers(candidate, atom))) missing.push(atom);
    }
  }
  return { covered: missing.length === 0, missing };
}

/**
 * Splits a rule into rules of one verb and one group, resource and resource
 * name each (or one verb and one URL), so that each is covered by a single
 * owner rule or by none.
 */
export function breakdownRule(rule: PolicyRule): PolicyRule[] {
  const atoms: PolicyRule[] = [];
  const names = rule.resourceNames ?? [];
  for (const group of rule.apiGroups ?? []) {
    for (const resource of rule.resources ?? []) {
      for (const verb of rule.verbs) {
        if (names.length === 0) {
          atoms.push({ apiGroups: [group], resources: [resource], verbs: [verb] });
          continue;
        }
        for (const name of names)
          atoms.push({ apiGroups: [group], resources: [resource], verbs: [verb], resourceNames: [name] });
      }
    }
  }
  for (const url of rule.nonResourceURLs ?? []) {
    for (const verb of rule.verbs) atoms.push({ nonResourceURLs: [url], verbs: [verb] });
  }
  return atoms;
}

/**
 * Whether `owner` (any rule) covers `atom` (a rule of at most one verb,
 * resource and name). A `*` covers only what a `*` covers: an owner listing
 * `get` and `list` does not cover a servant's `*`.
 */
export function ruleCovers(owner: PolicyRule, atom: PolicyRule): boolean {
  const names = owner.resourceNames ?? [];
  const atomNames = atom.resourceNames ?? [];
  const nameMatches = names.length === 0 || (atomNames.length > 0 && hasAll(names, atomNames));
  return (
    (owner.verbs.includes(ALL) || hasAll(owner.verbs, atom.verbs)) &&
    ((owner.apiGroups ?? []).includes(ALL) || hasAll(owner.apiGroups ?? [], atom.apiGroups ?? [])) &&
    resourcesCover(owner.resources ?? [], atom.resources ?? []) &&
    urlsCover(owner.nonResourceURLs ?? [], atom.nonResourceURLs ?? []) &&
    nameMatches
  );
}

function hasAll(set: readonly string[], wanted: readonly string[]): boolean {
  return wanted.every((item) => set.includes(item));
}

/** A `*` covers every resource, and `*` followed by `/status` the status subresource of each. */
function resourcesCover(owner: readonly string[], wanted: readonly string[]): boolean {
  if (owner.includes(ALL)) return true;
  return wanted.every((resource) => {
    if (owner.includes(resource)) return true;
    const slash = resource.indexOf('/');
    return slash > 0 && owner.includes(`*${resource.slice(slash)}`);
  });
}

/** A URL ending in `*` covers every path it prefixes. */
function urlsCover(owner: readonly string[], wanted: readonly string[]): boolean {
  return wanted.every((path) =>
    owner.some((url) => url === path || (url.endsWith(ALL) && path.startsWith(url.replace(/\*+$/, '')))),
  );
}

/**
 * Merges rules of one group, resource and at most one name that differ only
 * in their verbs (the apiserver's CompactRules), for a shorter message.
 */
export function compactRules(rules: readonly PolicyRule[]): PolicyRule[] {
  const compacted: PolicyRule[] = [];
  const simple = new Map<string, PolicyRule>();
  for (const rule of rules) {
    const key = simpleKey(rule);
    if (key === undefined) {
      compacted.push(rule);
      continue;
    }
    const existing = simple.get(key);
    if (existing) existing.verbs.push(...rule.verbs);
    else simple.set(key, structuredClone(rule));
  }
  return compacted.concat([...simple.values()]);
}

function simpleKey(rule: PolicyRule): string | undefined {
  const names = rule.resourceNames ?? [];
  if (names.length > 1 || (rule.nonResourceURLs ?? []).length > 0) return undefined;
  if (rule.apiGroups?.length !== 1 || rule.resources?.length !== 1) return undefined;
  return JSON.stringify([rule.apiGroups[0], rule.resources[0], names.length === 1, names[0] ?? '']);
}

/** Go's `%q` of a string (as the apiserver formats its messages). */
function quote(text: string): string {
  return JSON.stringify(text);
}

/** Go's `%q` of a list of strings: `["a" "b"]`. */
function quoteList(items: readonly string[]): string {
  return `[${items.map(quote).join(' ')}]`;
}

/** A rule as the apiserver's CompactString writes it: `{APIGroups:["outpost.dev"], Resources:["devices"], Verbs:["update"]}`. */
export function compactString(rule: PolicyRule): string {
  const parts: string[] = [];
  if ((rule.apiGroups ?? []).length > 0) parts.push(`APIGroups:${quoteList(rule.apiGroups!)}`);
  if ((rule.resources ?? []).length > 0) parts.push(`Resources:${quoteList(rule.resources!)}`);
  if ((rule.nonResourceURLs ?? []).length > 0)
    parts.push(`NonResourceURLs:${quoteList(rule.nonResourceURLs!)}`);
  if ((rule.resourceNames ?? []).length > 0) parts.push(`ResourceNames:${quoteList(rule.resourceNames!)}`);
  if (rule.verbs.length > 0) parts.push(`Verbs:${quoteList(rule.verbs)}`);
  return `{${parts.join(', ')}}`;
}

/**
 * The apiserver's reason for refusing an escalation, one missing permission
 * per line, sorted: `user "alice" (groups=["team-a" "system:authenticated"])
 * is attempting to grant RBAC permissions not currently held:\n{...}`.
 */
export function escalationMessage(
  user: string,
  groups: readonly string[],
  missing: readonly PolicyRule[],
): string {
  const lines = [...new Set(compactRules(missing).map(compactString))].sort();
  return `user ${quote(user)} (groups=${quoteList(groups)}) is attempting to grant RBAC permissions not currently held:\n${lines.join('\n')}`;
}
