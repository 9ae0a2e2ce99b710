/**
 * RBAC's matching rules, as the apiserver's `rbac/validation` package has
 * them: which subjects a binding names, and whether a policy rule covers a
 * request. Pure functions; the index decides which rules apply.
 */
import type { PolicyRule, Subject } from '../../api/index.ts';
import type { RequestAttributes } from './authorize-attributes.ts';

const ALL = '*';
const SERVICE_ACCOUNT_PREFIX = 'system:serviceaccount:';

/** Keys under which bindings are indexed by subject: `User:NAME`, `Group:NAME`, `ServiceAccount:NS:NAME`. */
export function subjectKey(subject: Subject, bindingNamespace: string): string {
  if (subject.kind === 'ServiceAccount')
    return `ServiceAccount:${subject.namespace || bindingNamespace}:${subject.name}`;
  return `${subject.kind}:${subject.name}`;
}

/** The subject keys a caller matches: its user, each of its groups, and its service account if it is one. */
export function callerKeys(user: string, groups: readonly string[]): string[] {
  const keys = [`User:${user}`];
  for (const group of groups) keys.push(`Group:${group}`);
  if (user.startsWith(SERVICE_ACCOUNT_PREFIX)) {
    const [namespace, name, ...rest] = user.slice(SERVICE_ACCOUNT_PREFIX.length).split(':');
    if (namespace && name && rest.length === 0) keys.push(`ServiceAccount:${namespace}:${name}`);
  }
  return keys;
}

/** Whether `rule` allows the request (RBAC's RuleAllows). */
export function ruleAllows(attributes: RequestAttributes, rule: PolicyRule): boolean {
  if (!verbMatches(rule, attributes.verb)) return false;
  if (!attributes.resourceRequest) return nonResourceURLMatches(rule, attributes.path);
  const combined =
    attributes.subresource === '' ? attributes.resource : `${attributes.resource}/${attributes.subresource}`;
  return (
    apiGroupMatches(rule, attributes.apiGroup) &&
    resourceMatches(rule, combined, attributes.subresource) &&
    resourceNameMatches(rule, attributes.name)
  );
}

function verbMatches(rule: PolicyRule, verb: string): boolean {
  return rule.verbs.some((v) => v === ALL || v === verb);
}

function apiGroupMatches(rule: PolicyRule, group: string): boolean {
  return (rule.apiGroups ?? []).some((g) => g === ALL || g === group);
}

function resourceMatches(rule: PolicyRule, combined: string, subresource: string): boolean {
  for (const resource of rule.resources ?? []) {
    if (resource === ALL || resource === combined) return true;
    // `*/status` covers the status subresource of every resource.
    if (subresource !== '' && resource === `*/${subresource}`) return true;
  }
  return false;
}

function resourceNameMatches(rule: PolicyRule, name: string): boolean {
  const names = rule.resourceNames ?? [];
  return names.length === 0 || names.includes(name);
}

function nonResourceURLMatches(rule: PolicyRule, path: string): boolean {
  for (const url of rule.nonResourceURLs ?? []) {
    if (url === ALL || url === path) return true;
    if (url.endsWith('*') && path.startsWith(url.slice(0, -1))) return true;
  }
  return false;
}

/** A rule as SelfSubjectRulesReview lists it. */
export interface ResourceRule {
  readonly verbs: string[];
  readonly apiGroups: string[];
  readonly resources: string[];
  readonly resourceNames?: string[];
}

export interface NonResourceRule {
  readonly verbs: string[];
  readonly nonResourceURLs: string[];
}

/** Splits rules into the resource and non-resource rules of a rules review. */
export function reviewRules(rules: readonly PolicyRule[]): {
  resourceRules: ResourceRule[];
  nonResourceRules: NonResourceRule[];
} {
  const resourceRules: ResourceRule[] = [];
  const nonResourceRules: NonResourceRule[] = [];
  for (const rule of rules) {
    if ((rule.nonResourceURLs ?? []).length > 0) {
      nonResourceRules.push({ verbs: [...rule.verbs], nonResourceURLs: [...rule.nonResourceURLs!] });
      continue;
    }
    resourceRules.push({
      verbs: [...rule.verbs],
      apiGroups: [...(rule.apiGroups ?? [])],
      resources: [...(rule.resources ?? [])],
      ...((rule.resourceNames ?? []).length > 0 ? { resourceNames: [...rule.resourceNames!] } : {}),
    });
  }
  return { resourceRules, nonResourceRules };
}
