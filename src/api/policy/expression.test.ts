import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDuration } from './duration.ts';
import { ExpressionError, evaluate, parseExpression } from './expression.ts';
import { unknownProfileRefs, validateProfiles } from './profiles.ts';

const table =
  (values: Record<string, number>) =>
  (name: string): number | undefined =>
    values[name];
const holds = (text: string, values: Record<string, number> = {}) =>
  evaluate(parseExpression(text), table(values));

describe('profile expressions', () => {
  it("evaluates device-worker-ng's examples: percentages, nil, || and comparisons", () => {
    assert.equal(holds('x<3% || x == nil'), true);
    assert.equal(holds('x<3% || x == nil', { x: 2 }), true);
    assert.equal(holds('x<3% || x == nil', { x: 3 }), false);
    assert.equal(holds('y>3', { y: 3.5 }), true);
    assert.equal(holds('y>3'), false, 'a nil metric compares false');
    assert.equal(holds('y != nil', { y: 0 }), true);
    assert.equal(holds('nil == nil'), true);
  });

  it('honours precedence, parentheses, ! and negative numbers', () => {
    assert.equal(holds('a > 1 || b > 1 && c > 1', { a: 2 }), true);
    assert.equal(holds('(a > 1 || b > 1) && c > 1', { a: 2 }), false);
    assert.equal(holds('!(temperature >= -5.5)', { temperature: -10 }), true);
    assert.equal(
      holds('cpu <= 50% && memory >= 10 && disk == 20 && load1 != 1', {
        cpu: 50,
        memory: 10,
        disk: 20,
        load1: 2,
      }),
      true,
    );
  });

  it('lists the metrics an expression reads', () => {
    assert.deepEqual(parseExpression('b > 1 || a < 2 && b == nil').metrics, ['a', 'b']);
  });

  it('refuses what it does not evaluate, saying what', () => {
    const cases: Array<[string, RegExp]> = [
      ['x <', /syntax error/],
      ['x < 3 +', /syntax error|unsupported/],
      ['x + 1 > 3', /unsupported operator \+/],
      ['x % 2 == 0', /unsupported operator %/],
      ['x', /a value, not a condition/],
      ['process.exit(1) > 0', /unsupported (function call|property access)/],
      ['constructor.prototype > 1', /property access/],
      ['x > "3"', /only numbers/],
      ['x > true', /only numbers/],
      ['x < nil', /nil can only be compared/],
      ['x > 1 ? 1 : 0', /unsupported|syntax/],
      ['(x > 1) > 0', /cannot be compared/],
      ['', /empty/],
      ['x > 1; y > 2', /list of expressions|syntax/],
    ];
    for (const [text, message] of cases) {
      assert.throws(
        () => parseExpression(text),
        (error: unknown) => {
          assert.ok(error instanceof ExpressionError, text);
          assert.match(error.message, message, text);
          return true;
        },
      );
    }
  });

  it('leans comparisons by the hysteresis band, ! flipping the lean', () => {
    const e = parseExpression('x < 3');
    assert.equal(evaluate(e, table({ x: 3.5 }), 1, 1), true, 'holding: keeps holding within the band');
    assert.equal(evaluate(e, table({ x: 4 }), 1, 1), false, 'holding: stops a band past the threshold');
    assert.equal(evaluate(e, table({ x: 2.5 }), -1, 1), false, 'not holding: stays off within the band');
    assert.equal(evaluate(e, table({ x: 1.9 }), -1, 1), true, 'not holding: starts a band past it');
    const n = parseExpression('!(x > 3)');
    assert.equal(evaluate(n, table({ x: 3.5 }), 1, 1), true);
    assert.equal(evaluate(n, table({ x: 4.5 }), 1, 1), false);
    assert.equal(evaluate(n, table({ x: 2.5 }), -1, 1), false);
  });
});

describe('durations', () => {
  it('reads Go-style durations', () => {
    assert.equal(parseDuration('30s'), 30_000);
    assert.equal(parseDuration('1m30s'), 90_000);
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('1.5h'), 5_400_000);
    assert.equal(parseDuration('0'), 0);
    for (const bad of ['', '30', 's', '1d', '1m 30s', '-1s'])
      assert.equal(parseDuration(bad), undefined, bad);
  });
});

describe('profile validation', () => {
  it('names the field of each bad expression, duplicate and duration', () => {
    const causes = validateProfiles(
      [
        {
          name: 'test',
          conditions: [
            { name: 'off', expression: 'x<3% || x == nil' },
            { name: 'off', expression: 'y >> 3' },
            { name: 'slow', expression: 'y > 3', for: 'soon' },
          ],
        },
        { name: 'test', conditions: [] },
      ],
      'spec.profiles',
    );
    assert.deepEqual(
      causes.map((c) => c.field),
      [
        'spec.profiles[0].conditions[1].name',
        'spec.profiles[0].conditions[1].expression',
        'spec.profiles[0].conditions[2].for',
        'spec.profiles[1].name',
      ],
    );
  });

  it('finds references to profiles and conditions no Device declares', () => {
    const declared = [[{ name: 'test', conditions: [{ name: 'off', expression: 'x < 1' }] }]];
    const causes = unknownProfileRefs(
      [
        { name: 'test', conditions: ['off', 'on'] },
        { name: 'other', conditions: ['off'] },
      ],
      declared,
      'spec.profiles',
    );
    assert.deepEqual(
      causes.map((c) => c.field),
      ['spec.profiles[0].conditions[1]', 'spec.profiles[1].name'],
    );
  });
});
