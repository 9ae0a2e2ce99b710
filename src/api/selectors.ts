/**
 * Label and field selectors, as Kubernetes parses and matches them.
 * `a=b,c!=d,e in (x,y),f notin (z),g,!h` for labels; `metadata.name=x,f!=y` for fields.
 */

export type LabelOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

/** One condition on one label; a selector is their conjunction. */
export interface LabelRequirement {
  readonly key: string;
  readonly operator: LabelOperator;
  readonly values: readonly string[];
}

export interface FieldRequirement {
  readonly field: string;
  readonly operator: '=' | '!=';
  readonly value: string;
}

/** A selector string that does not parse. */
export class SelectorError extends Error {}

/** Parses a label selector string; an empty string selects everything. */
export function parseLabelSelector(text: string): LabelRequirement[] {
  const requirements: LabelRequirement[] = [];
  for (const term of splitTerms(text)) {
    requirements.push(parseLabelTerm(term));
  }
  return requirements;
}

function parseLabelTerm(term: string): LabelRequirement {
  const setMatch = /^([^\s!=()]+)\s+(in|notin)\s*\(([^()]*)\)$/.exec(term);
  if (setMatch) {
    const values = setMatch[3]!
      .split(',')
      .map((value) => value.trim())
      .filter((value) => value.length > 0);
    if (values.length === 0)
      throw new SelectorError(`unable to parse requirement: values in ${term} are empty`);
    return { key: setMatch[1]!, operator: setMatch[2] === 'in' ? 'In' : 'NotIn', values };
  }
  const comparison = /^([^\s!=()]+)\s*(==|=|!=)\s*([^\s!=(),]*)$/.exec(term);
  if (comparison) {
    const operator = comparison[2] === '!=' ? 'NotIn' : 'In';
    return { key: comparison[1]!, operator, values: [comparison[3]!] };
  }
  const notExists = /^!\s*([^\s!=()]+)$/.exec(term);
  if (notExists) return { key: notExists[1]!, operator: 'DoesNotExist', values: [] };
  if (/^[^\s!=()]+$/.test(term)) return { key: term, operator: 'Exists', values: [] };
  throw new SelectorError(`unable to parse requirement: ${JSON.stringify(term)}`);
}

/** Splits on commas that are not inside parentheses. */
function splitTerms(text: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of text) {
    if (char === '(') depth++;
    if (char === ')') depth--;
    if (char === ',' && depth === 0) {
      terms.push(current.trim());
      current = '';
    } else {
      current += char;
    }
  }
  if (current.trim() !== '' || terms.length > 0) terms.push(current.trim());
  if (terms.some((term) => term === ''))
    throw new SelectorError(`found empty requirement in ${JSON.stringify(text)}`);
  return terms;
}

/** Whether labels satisfy every requirement. */
export function matchesLabels(
  requirements: readonly LabelRequirement[],
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  for (const requirement of requirements) {
    const value = labels?.[requirement.key];
    switch (requirement.operator) {
      case 'In':
        if (value === undefined || !requirement.values.includes(value)) return false;
        break;
      case 'NotIn':
        if (value !== undefined && requirement.values.includes(value)) return false;
        break;
      case 'Exists':
        if (value === undefined) return false;
        break;
      case 'DoesNotExist':
        if (value !== undefined) return false;
        break;
    }
  }
  return true;
}

/** A `LabelSelector` object (matchLabels + matchExpressions) as requirements. */
export function selectorRequirements(selector: {
  matchLabels?: Record<string, string>;
  matchExpressions?: ReadonlyArray<{ key: string; operator: string; values?: readonly string[] }>;
}): LabelRequirement[] {
  const requirements: LabelRequirement[] = Object.entries(selector.matchLabels ?? {}).map(([key, value]) => ({
    key,
    operator: 'In' as const,
    values: [value],
  }));
  for (const expression of selector.matchExpressions ?? []) {
    requirements.push({
      key: expression.key,
      operator: expression.operator as LabelOperator,
      values: expression.values ?? [],
    });
  }
  return requirements;
}

/** Parses a field selector string (`=`, `==`, `!=` terms joined by commas). */
export function parseFieldSelector(text: string): FieldRequirement[] {
  if (text.trim() === '') return [];
  return text.split(',').map((term) => {
    const match = /^\s*([^\s!=]+)\s*(==|=|!=)\s*(.*?)\s*$/.exec(term);
    if (!match) throw new SelectorError(`invalid selector: '${text}'; can't understand '${term}'`);
    return { field: match[1]!, operator: match[2] === '!=' ? '!=' : '=', value: match[3]! };
  });
}
