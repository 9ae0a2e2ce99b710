import type { FieldCause } from '../kind.ts';
import { parseDuration } from './duration.ts';
import { ExpressionError, parseExpression } from './expression.ts';

/** One named condition of a Device profile, as the Device's spec declares it. */
export interface ProfileConditionSpec {
  readonly name: string;
  readonly expression: string;
  /** How long the expression must hold before the condition does (`30s`). */
  readonly for?: string;
  /** Hysteresis: how far past a threshold a metric must go to change the condition. */
  readonly hysteresis?: number;
}

/** A named set of conditions on a Device. */
export interface ProfileSpec {
  readonly name: string;
  readonly conditions: readonly ProfileConditionSpec[];
}

/** A Workload's opt-in: the profile and the conditions of it that must all hold. */
export interface ProfileRef {
  readonly name: string;
  readonly conditions: readonly string[];
}

/** Longest `for`: a day. */
export const MAX_FOR_MS = 86_400_000;

/**
 * Checks a Device's `spec.profiles` beyond its schema: unique profile and
 * condition names, every expression parses (the cause names the character
 * position), every `for` is a duration. Paths start at `path`
 * (`spec.profiles`).
 */
export function validateProfiles(profiles: readonly ProfileSpec[], path: string): FieldCause[] {
  const causes: FieldCause[] = [];
  const names = new Set<string>();
  profiles.forEach((profile, p) => {
    const at = `${path}[${p}]`;
    if (names.has(profile.name)) causes.push(duplicate(`${at}.name`, profile.name));
    names.add(profile.name);
    const conditions = new Set<string>();
    (profile.conditions ?? []).forEach((condition, c) => {
      const cat = `${at}.conditions[${c}]`;
      if (conditions.has(condition.name)) causes.push(duplicate(`${cat}.name`, condition.name));
      conditions.add(condition.name);
      try {
        parseExpression(condition.expression);
      } catch (error) {
        if (!(error instanceof ExpressionError)) throw error;
        const where = error.index !== undefined ? ` at character ${error.index + 1}` : '';
        causes.push({
          reason: 'FieldValueInvalid',
          field: `${cat}.expression`,
          message: `Invalid value: ${JSON.stringify(condition.expression)}: ${error.message}${where}`,
        });
      }
      if (condition.for !== undefined) {
        const ms = parseDuration(condition.for);
        if (ms === undefined || ms > MAX_FOR_MS)
          causes.push({
            reason: 'FieldValueInvalid',
            field: `${cat}.for`,
            message: `Invalid value: ${JSON.stringify(condition.for)}: ${
              ms === undefined ? 'a duration such as 30s, 5m or 1h30m' : 'at most 24h'
            }`,
          });
      }
    });
  });
  return causes;
}

/** Checks a Workload's `spec.profiles` on its own: no profile twice, no condition twice in one. */
export function validateProfileRefs(refs: readonly ProfileRef[], path: string): FieldCause[] {
  const causes: FieldCause[] = [];
  const names = new Set<string>();
  refs.forEach((ref, r) => {
    if (names.has(ref.name)) causes.push(duplicate(`${path}[${r}].name`, ref.name));
    names.add(ref.name);
    const conditions = new Set<string>();
    (ref.conditions ?? []).forEach((condition, c) => {
      if (conditions.has(condition)) causes.push(duplicate(`${path}[${r}].conditions[${c}]`, condition));
      conditions.add(condition);
    });
  });
  return causes;
}

/**
 * The references of `refs` that no profile of `declared` satisfies: a
 * profile no Device declares, or a condition that no Device's profile of
 * that name declares. Paths start at `path` (`spec.profiles`).
 */
export function unknownProfileRefs(
  refs: readonly ProfileRef[],
  declared: Iterable<readonly ProfileSpec[]>,
  path: string,
): FieldCause[] {
  const conditionsOf = new Map<string, Set<string>>();
  for (const profiles of declared)
    for (const profile of profiles) {
      const set = conditionsOf.get(profile.name) ?? new Set<string>();
      for (const condition of profile.conditions ?? []) set.add(condition.name);
      conditionsOf.set(profile.name, set);
    }
  const causes: FieldCause[] = [];
  refs.forEach((ref, r) => {
    const known = conditionsOf.get(ref.name);
    if (!known) {
      causes.push({
        reason: 'FieldValueNotSupported',
        field: `${path}[${r}].name`,
        message: `Unsupported value: ${JSON.stringify(ref.name)}: no Device declares a profile of this name`,
      });
      return;
    }
    (ref.conditions ?? []).forEach((condition, c) => {
      if (!known.has(condition))
        causes.push({
          reason: 'FieldValueNotSupported',
          field: `${path}[${r}].conditions[${c}]`,
          message: `Unsupported value: ${JSON.stringify(condition)}: no Device's profile ${JSON.stringify(ref.name)} declares this condition`,
        });
    });
  });
  return causes;
}

function duplicate(field: string, value: string): FieldCause {
  return { reason: 'FieldValueDuplicate', field, message: `Duplicate value: ${JSON.stringify(value)}` };
}
