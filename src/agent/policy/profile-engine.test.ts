import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MetricTable } from './metric-table.ts';
import { parseBody } from './metrics-endpoint.ts';
import { ProfileEngine } from './profile-engine.ts';

function setup(conditions: Array<{ name: string; expression: string; for?: string; hysteresis?: number }>) {
  let clock = 0;
  const table = new MetricTable({ ttlMs: 100_000, now: () => clock });
  const engine = new ProfileEngine({ metrics: (name) => table.get(name), monotonic: () => clock });
  engine.setProfiles([{ name: 'p', conditions }]);
  return {
    table,
    engine,
    advance: (ms: number) => {
      clock += ms;
    },
    post: (name: string, value: number) => {
      table.post(name, value);
      return engine.evaluate(name);
    },
  };
}

describe('profile engine', () => {
  it('holds a unit back until every condition it names holds, naming the first that does not', () => {
    const { engine, post } = setup([
      { name: 'off', expression: 'x<3% || x == nil' },
      { name: 'high', expression: 'y > 3' },
    ]);
    assert.equal(engine.hold([{ name: 'p', conditions: ['off'] }]), undefined, 'x is nil: off holds');
    assert.equal(engine.hold([{ name: 'p', conditions: ['off', 'high'] }])?.reason, 'ProfileConditionNotMet');
    assert.deepEqual(
      post('y', 4).map((t) => [t.condition, t.state]),
      [['high', true]],
    );
    assert.equal(engine.hold([{ name: 'p', conditions: ['off', 'high'] }]), undefined);
    assert.equal(engine.hold([{ name: 'q', conditions: ['off'] }])?.reason, 'ProfileNotDeclared');
    assert.equal(engine.hold([{ name: 'p', conditions: ['nope'] }])?.reason, 'ProfileNotDeclared');
  });

  it('turns a condition true only after it held for `for`, false at once', () => {
    const { engine, post, advance } = setup([{ name: 'hot', expression: 't > 50', for: '30s' }]);
    assert.deepEqual(post('t', 60), []);
    assert.ok(engine.report()[0]!.conditions[0]!.pendingSince);
    advance(29_000);
    assert.deepEqual(engine.evaluate(), []);
    advance(1_000);
    assert.deepEqual(
      engine.evaluate().map((t) => t.state),
      [true],
    );
    assert.deepEqual(
      post('t', 40).map((t) => t.state),
      [false],
    );
    // A blip shorter than `for` changes nothing.
    post('t', 60);
    advance(10_000);
    assert.deepEqual(post('t', 40), []);
    advance(30_000);
    assert.deepEqual(engine.evaluate(), []);
  });

  it('does not flap within the hysteresis band', () => {
    const { post } = setup([{ name: 'low', expression: 'x < 3', hysteresis: 1 }]);
    post('x', 5);
    const flips = [2.5, 3.5, 2.5, 3.9, 2.1, 3.2].flatMap((value) => post('x', value));
    assert.deepEqual(flips, [], 'between 2 and 4 nothing changes');
    assert.deepEqual(
      post('x', 1.9).map((t) => t.state),
      [true],
    );
    assert.deepEqual(post('x', 3.9), []);
    assert.deepEqual(
      post('x', 4).map((t) => t.state),
      [false],
    );
  });

  it('treats an expired metric as nil', () => {
    const { table, engine, post, advance } = setup([{ name: 'seen', expression: 'x != nil' }]);
    post('x', 1);
    assert.equal(engine.hold([{ name: 'p', conditions: ['seen'] }]), undefined);
    advance(100_000);
    assert.deepEqual(table.sweep(), ['x']);
    assert.deepEqual(
      engine.evaluate().map((t) => t.state),
      [false],
    );
  });

  it('keeps states across a restart when the expression is unchanged', () => {
    const table = new MetricTable({ ttlMs: 10_000 });
    const engine = new ProfileEngine({ metrics: (name) => table.get(name) });
    table.post('x', 5);
    const saved = new Map([
      ['p/a', { expression: 'x > 1', state: true, lastTransitionTime: '2026-01-01T00:00:00.000Z' }],
      ['p/b', { expression: 'old', state: true, lastTransitionTime: '2026-01-01T00:00:00.000Z' }],
    ]);
    engine.setProfiles(
      [
        {
          name: 'p',
          conditions: [
            { name: 'a', expression: 'x > 1', for: '1m' },
            { name: 'b', expression: 'x > 1', for: '1m' },
          ],
        },
      ],
      saved,
    );
    const [a, b] = engine.report()[0]!.conditions;
    assert.equal(a!.state, 'True', 'restored: holds at once, no new `for`');
    assert.equal(a!.lastTransitionTime, '2026-01-01T00:00:00.000Z');
    assert.equal(b!.state, 'False', 'another expression before: its `for` starts now');
    assert.ok(b!.pendingSince);
  });
});

describe('metrics endpoint bodies', () => {
  it("accepts device-worker-ng's body and batches", () => {
    assert.deepEqual(parseBody({ value: 20, name: 'cpu' }), [{ name: 'cpu', value: 20 }]);
    assert.deepEqual(
      parseBody([
        { name: 'a', value: 1 },
        { name: 'b', value: -2.5 },
      ]),
      [
        { name: 'a', value: 1 },
        { name: 'b', value: -2.5 },
      ],
    );
  });

  it('names what is wrong with a bad body', () => {
    assert.match(parseBody({ name: 'cpu' }) as string, /value is required/);
    assert.match(parseBody({ name: 'cpu', value: '20' }) as string, /value .*number/);
    assert.match(parseBody({ value: 1 }) as string, /name is required/);
    assert.match(parseBody({ name: '1x', value: 1 }) as string, /not a metric name/);
    assert.match(parseBody({ name: 'nil', value: 1 }) as string, /not a metric name/);
    assert.match(parseBody({ name: 'x', value: 1, unit: '%' }) as string, /unknown field "unit"/);
    assert.match(parseBody([{ name: 'x', value: 1 }, 3]) as string, /\[1\] must be an object/);
    assert.match(parseBody([]) as string, /empty/);
  });
});
