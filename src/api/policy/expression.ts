import jsep from 'jsep';

/**
 * Profile condition expressions: `x < 3% || x == nil`, `cpu > 80 && !(temperature >= 70)`.
 * The text is parsed by jsep and its tree turned into ours, admitting only
 * numbers (an optional `%` after one is decoration: metrics are numbers,
 * percentages from 0 to 100), metric names, `nil`, `< <= > >= == !=`,
 * `&& || !` and parentheses; anything else is a {@link ExpressionError}
 * naming what and where. Our evaluator reads nothing but the metric values
 * it is given: no `eval`, no property access, no calls.
 */

/** A comparison operator. */
export type CompareOp = '<' | '<=' | '>' | '>=' | '==' | '!=';

/** A value: a number, a metric's value (undefined when it is nil), or nil itself. */
export type ValueNode =
  | { readonly type: 'number'; readonly value: number }
  | { readonly type: 'metric'; readonly name: string }
  | { readonly type: 'nil' };

/** A condition: a comparison, or conditions joined by `&&`, `||`, `!`. */
export type BoolNode =
  | { readonly type: 'compare'; readonly op: CompareOp; readonly left: ValueNode; readonly right: ValueNode }
  | { readonly type: 'and' | 'or'; readonly left: BoolNode; readonly right: BoolNode }
  | { readonly type: 'not'; readonly operand: BoolNode };

/** A parsed expression: its tree and the metrics it reads. */
export interface Expression {
  readonly text: string;
  readonly root: BoolNode;
  /** Every metric name it reads, sorted. */
  readonly metrics: readonly string[];
}

/** Why an expression cannot be used; `index` is the character position when known. */
export class ExpressionError extends Error {
  constructor(
    message: string,
    readonly index?: number,
  ) {
    super(message);
    this.name = 'ExpressionError';
  }
}

/** A metric name as expressions and POSTed bodies write it. */
export const METRIC_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Expressions longer than this are refused (a condition is a line, not a program). */
export const MAX_EXPRESSION_LENGTH = 1024;

const COMPARE: ReadonlySet<string> = new Set(['<', '<=', '>', '>=', '==', '!=']);
const PERCENT = 37;
const PERIOD = 46;

let hooked = false;
/** Numbers may carry a `%` right after them (`3%`): read as the number, without jsep's modulo. */
function hookPercent(): void {
  if (hooked) return;
  hooked = true;
  jsep.hooks.add('gobble-token', function (env) {
    const parser = this as unknown as {
      code: number;
      index: number;
      gobbleNumericLiteral(): jsep.Expression;
    };
    const code = parser.code;
    if (!((code >= 48 && code <= 57) || code === PERIOD)) return;
    const node = parser.gobbleNumericLiteral();
    if (parser.code === PERCENT) {
      parser.index++;
      node.percent = true;
    }
    env.node = node;
  });
}

/** Parses `text`; throws {@link ExpressionError} when it is not a condition we evaluate. */
export function parseExpression(text: string): Expression {
  if (text.length > MAX_EXPRESSION_LENGTH)
    throw new ExpressionError(`longer than ${MAX_EXPRESSION_LENGTH} characters`);
  if (text.trim() === '') throw new ExpressionError('empty expression');
  hookPercent();
  let tree: jsep.Expression;
  try {
    tree = jsep(text);
  } catch (error) {
    const e = error as Error & { index?: number; description?: string };
    throw new ExpressionError(`syntax error: ${e.description ?? e.message}`, e.index);
  }
  const metrics = new Set<string>();
  const root = toBool(tree, metrics);
  return { text, root, metrics: [...metrics].sort() };
}

function toBool(node: jsep.Expression, metrics: Set<string>): BoolNode {
  if (node.type === 'BinaryExpression') {
    const { operator, left, right } = node as jsep.BinaryExpression;
    if (operator === '&&' || operator === '||')
      return {
        type: operator === '&&' ? 'and' : 'or',
        left: toBool(left, metrics),
        right: toBool(right, metrics),
      };
    if (COMPARE.has(operator)) {
      const l = toValue(left, metrics);
      const r = toValue(right, metrics);
      if ((l.type === 'nil' || r.type === 'nil') && operator !== '==' && operator !== '!=')
        throw new ExpressionError(`nil can only be compared with == or != (found ${operator})`);
      return { type: 'compare', op: operator as CompareOp, left: l, right: r };
    }
    throw new ExpressionError(`unsupported operator ${operator}`);
  }
  if (node.type === 'UnaryExpression') {
    const { operator, argument } = node as jsep.UnaryExpression;
    if (operator === '!') return { type: 'not', operand: toBool(argument, metrics) };
    throw new ExpressionError(`unsupported operator ${operator}`);
  }
  if (node.type === 'Identifier' || node.type === 'Literal')
    throw new ExpressionError(
      `${describe(node)} is a value, not a condition: compare it (e.g. ${describe(node)} > 0)`,
    );
  throw new ExpressionError(`unsupported ${describe(node)}`);
}

function toValue(node: jsep.Expression, metrics: Set<string>): ValueNode {
  if (node.type === 'Literal') {
    const { value } = node as jsep.Literal;
    if (typeof value === 'number' && Number.isFinite(value)) return { type: 'number', value };
    throw new ExpressionError(`unsupported ${describe(node)}: only numbers, metric names and nil`);
  }
  if (node.type === 'Identifier') {
    const { name } = node as jsep.Identifier;
    if (name === 'nil') return { type: 'nil' };
    if (!METRIC_NAME.test(name)) throw new ExpressionError(`invalid metric name ${name}`);
    metrics.add(name);
    return { type: 'metric', name };
  }
  if (node.type === 'UnaryExpression') {
    const { operator, argument } = node as jsep.UnaryExpression;
    if ((operator === '-' || operator === '+') && argument.type === 'Literal') {
      const inner = toValue(argument, metrics);
      if (inner.type === 'number')
        return { type: 'number', value: operator === '-' ? -inner.value : inner.value };
    }
    if (operator === '!') throw new ExpressionError('a condition cannot be compared: use parentheses');
    throw new ExpressionError(`unsupported operator ${operator}`);
  }
  if (node.type === 'BinaryExpression') {
    const { operator } = node as jsep.BinaryExpression;
    if (COMPARE.has(operator) || operator === '&&' || operator === '||')
      throw new ExpressionError(`a condition cannot be compared (near ${operator}): use parentheses`);
    throw new ExpressionError(`unsupported operator ${operator}`);
  }
  throw new ExpressionError(`unsupported ${describe(node)}`);
}

function describe(node: jsep.Expression): string {
  switch (node.type) {
    case 'Identifier':
      return `name ${(node as jsep.Identifier).name}`;
    case 'Literal':
      return `literal ${(node as jsep.Literal).raw}`;
    case 'MemberExpression':
      return 'property access';
    case 'CallExpression':
      return 'function call';
    case 'Compound':
      return 'list of expressions';
    case 'ConditionalExpression':
      return 'conditional (?:)';
    case 'ArrayExpression':
      return 'array';
    default:
      return `expression ${node.type}`;
  }
}

/** Metric values by name; a name without a value is nil. */
export type MetricLookup = (name: string) => number | undefined;

/**
 * Which way comparisons lean: `1` toward true, `-1` toward false, `0` none.
 * Leaning by `band` is hysteresis: a condition that holds keeps holding until
 * its metric is `band` past the threshold, and one that does not hold starts
 * only once the metric is `band` past it the other way.
 */
export type Lean = -1 | 0 | 1;

/**
 * Evaluates `expression` over `metrics`. With `lean` and `band` (≥ 0), each
 * numeric comparison is moved by `band` toward the result leaned to (`!`
 * flips the lean of what it negates): `x < 3` leaning true holds while
 * `x < 3 + band`, leaning false only while `x < 3 - band`. Comparisons with
 * nil are exact; any comparison with a nil metric other than `== nil` and
 * `!= nil` is false.
 */
export function evaluate(expression: Expression, metrics: MetricLookup, lean: Lean = 0, band = 0): boolean {
  return evalBool(expression.root, metrics, lean, band);
}

function evalBool(node: BoolNode, metrics: MetricLookup, lean: Lean, band: number): boolean {
  switch (node.type) {
    case 'and':
      return evalBool(node.left, metrics, lean, band) && evalBool(node.right, metrics, lean, band);
    case 'or':
      return evalBool(node.left, metrics, lean, band) || evalBool(node.right, metrics, lean, band);
    case 'not':
      return !evalBool(node.operand, metrics, -lean as Lean, band);
    case 'compare':
      return compare(node, metrics, lean, band);
  }
}

function operand(node: ValueNode, metrics: MetricLookup): number | undefined | null {
  if (node.type === 'number') return node.value;
  if (node.type === 'nil') return null;
  return metrics(node.name);
}

function compare(
  node: Extract<BoolNode, { type: 'compare' }>,
  metrics: MetricLookup,
  lean: Lean,
  band: number,
): boolean {
  const a = operand(node.left, metrics);
  const b = operand(node.right, metrics);
  if (a === null || b === null) {
    // `x == nil`: x is nil (never seen, or expired). `nil == nil` holds.
    const nilEqual = (a === null || a === undefined) && (b === null || b === undefined);
    if (node.op === '==') return nilEqual;
    return !nilEqual;
  }
  if (a === undefined || b === undefined) return node.op === '!=';
  const shift = lean * band;
  switch (node.op) {
    case '<':
      return a < b + shift;
    case '<=':
      return a <= b + shift;
    case '>':
      return a > b - shift;
    case '>=':
      return a >= b - shift;
    case '==':
      return lean > 0 ? Math.abs(a - b) <= band : a === b;
    case '!=':
      return lean < 0 ? Math.abs(a - b) > band : a !== b;
  }
}
