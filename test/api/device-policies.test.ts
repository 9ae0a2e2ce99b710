/**
 * Device policies written wrong: a Device's bad profile expression or duration, a Workload's
 * reference to a profile or condition no Device declares, are 422s naming the field, and
 * write nothing; good ones are stored as sent.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  type Answer,
  call,
  type InProcessHub,
  recordWrites,
  startInProcessHub,
} from '../support/in-process/index.ts';

const NAMESPACE = 'policies';
const DEVICES = '/apis/outpost.dev/v1alpha1/devices';
const WORKLOADS = `/apis/outpost.dev/v1alpha1/namespaces/${NAMESPACE}/workloads`;
let hub: InProcessHub;

before(async () => {
  hub = await startInProcessHub();
  const namespace = await call(hub.app, {
    method: 'POST',
    url: '/api/v1/namespaces',
    payload: { metadata: { name: NAMESPACE } },
  });
  assert.equal(namespace.status, 201, namespace.text);
});

after(async () => {
  await hub?.close();
});

function post(url: string, object: unknown): Promise<Answer> {
  return call(hub.app, { method: 'POST', url, payload: object as Record<string, unknown> });
}

/** Posts `object`, expects a 422 naming exactly `fields`, and no write. */
async function invalid(url: string, object: unknown, fields: string[]): Promise<Answer> {
  const recorder = await recordWrites(hub.store);
  const answer = await post(url, object);
  assert.equal(answer.status, 422, answer.text);
  assert.equal(answer.body.reason, 'Invalid', answer.text);
  const causes = (answer.body.details as { causes: Array<{ field: string }> }).causes;
  assert.deepEqual(
    causes.map((cause) => cause.field),
    fields,
    answer.text,
  );
  await recorder.assertUnchanged(`POST ${url}`);
  return answer;
}

const device = (name: string, profiles: unknown) => ({
  apiVersion: 'outpost.dev/v1alpha1',
  kind: 'Device',
  metadata: { name },
  spec: { profiles },
});

const workload = (name: string, profiles: unknown) => ({
  apiVersion: 'outpost.dev/v1alpha1',
  kind: 'Workload',
  metadata: { name },
  spec: {
    resources: [
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'p' },
        spec: { containers: [{ name: 'c', image: 'x' }] },
      },
    ],
    profiles,
  },
});

describe('device profiles', () => {
  test("stores device-worker-ng's example profile as sent", async () => {
    const profiles = [
      {
        name: 'test',
        conditions: [
          { name: 'off', expression: 'x<3% || x == nil' },
          { name: 'another_one', expression: 'y>3', for: '30s', hysteresis: 0.5 },
        ],
      },
    ];
    const answer = await post(DEVICES, device('dev-good', profiles));
    assert.equal(answer.status, 201, answer.text);
    assert.deepEqual((answer.body.spec as { profiles: unknown }).profiles, profiles);
  });

  test('refuses bad expressions, durations and duplicates with the field of each', async () => {
    const answer = await invalid(
      DEVICES,
      device('dev-bad', [
        {
          name: 'test',
          conditions: [
            { name: 'a', expression: 'x <' },
            { name: 'b', expression: 'x + 1 > 2' },
            { name: 'c', expression: 'require("fs") > 0' },
            { name: 'c', expression: 'x > 1', for: 'a while' },
          ],
        },
      ]),
      [
        'spec.profiles[0].conditions[0].expression',
        'spec.profiles[0].conditions[1].expression',
        'spec.profiles[0].conditions[2].expression',
        'spec.profiles[0].conditions[3].name',
        'spec.profiles[0].conditions[3].for',
      ],
    );
    assert.match(answer.text, /unsupported operator \+/);
    assert.match(answer.text, /function call/);
    await invalid(
      DEVICES,
      device('dev-bad', [{ name: 't', conditions: [{ name: 'e', expression: 'x > 1', hysteresis: -1 }] }]),
      ['spec.profiles[0].conditions[0].hysteresis'],
    );
  });
});

describe('workload profile references', () => {
  test('a reference to a declared profile and condition is accepted', async () => {
    const answer = await post(
      WORKLOADS,
      workload('gated', [{ name: 'test', conditions: ['off', 'another_one'] }]),
    );
    assert.equal(answer.status, 201, answer.text);
  });

  test('a profile or condition no Device declares is a 422 naming it', async () => {
    await invalid(
      WORKLOADS,
      workload('typo', [
        { name: 'test', conditions: ['off', 'of'] },
        { name: 'nonesuch', conditions: ['off'] },
      ]),
      ['spec.profiles[0].conditions[1]', 'spec.profiles[1].name'],
    );
  });

  test('a profile named twice, or a condition twice, is a 422', async () => {
    await invalid(
      WORKLOADS,
      workload('twice', [
        { name: 'test', conditions: ['off', 'off'] },
        { name: 'test', conditions: ['off'] },
      ]),
      ['spec.profiles[0].conditions[1]', 'spec.profiles[1].name'],
    );
  });
});

describe('workload retry policies', () => {
  const withRetry = (name: string, retry: unknown) => ({
    ...workload(name, undefined),
    spec: { ...workload(name, undefined).spec, retry },
  });

  test('a good policy is stored as sent', async () => {
    const retry = { policy: 'exponential', interval: '500ms', maxInterval: '1m', maxRetries: 5 };
    const answer = await post(WORKLOADS, withRetry('retry-good', retry));
    assert.equal(answer.status, 201, answer.text);
    assert.deepEqual((answer.body.spec as { retry: unknown }).retry, retry);
  });

  test('bad policies are 422s naming the field', async () => {
    await invalid(WORKLOADS, withRetry('retry-bad', { policy: 'linear', interval: '1s' }), [
      'spec.retry.policy',
    ]);
    await invalid(WORKLOADS, withRetry('retry-bad', { policy: 'constant', interval: '1s', maxRetries: -1 }), [
      'spec.retry.maxRetries',
    ]);
    await invalid(WORKLOADS, withRetry('retry-bad', { policy: 'constant', interval: 'often' }), [
      'spec.retry.interval',
    ]);
    await invalid(
      WORKLOADS,
      withRetry('retry-bad', { policy: 'exponential', interval: '10s', maxInterval: '1s' }),
      ['spec.retry.maxInterval'],
    );
    await invalid(
      WORKLOADS,
      withRetry('retry-bad', { policy: 'constant', interval: '1s', maxInterval: '5s' }),
      ['spec.retry.maxInterval'],
    );
  });
});

describe('cron workloads', () => {
  const withCron = (name: string, cron: unknown, pod: Record<string, unknown> = {}) => ({
    ...workload(name, undefined),
    spec: {
      resources: [
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'p' },
          spec: { containers: [{ name: 'c', image: 'x' }], ...pod },
        },
      ],
      cron,
    },
  });

  test('good schedules (5 fields, 6 with seconds, @hourly, a time zone) are stored as sent', async () => {
    for (const [i, cron] of [
      { schedule: '*/5 * * * *' },
      { schedule: '*/10 * * * * *', concurrencyPolicy: 'Forbid', startingDeadlineSeconds: 30 },
      {
        schedule: '@hourly',
        timeZone: 'Europe/Berlin',
        concurrencyPolicy: 'Replace',
        successfulJobsHistoryLimit: 0,
        failedJobsHistoryLimit: 5,
      },
    ].entries()) {
      const answer = await post(WORKLOADS, withCron(`cron-good-${i}`, cron));
      assert.equal(answer.status, 201, answer.text);
      assert.deepEqual((answer.body.spec as { cron: unknown }).cron, cron);
    }
  });

  test('bad schedules, time zones and policies are 422s naming the field, writing nothing', async () => {
    const cases: Array<[unknown, string[], Record<string, unknown>?]> = [
      [{ schedule: '61 * * * *' }, ['spec.cron.schedule']],
      [{ schedule: 'every five minutes' }, ['spec.cron.schedule']],
      [{ schedule: '* * * * * * *' }, ['spec.cron.schedule']],
      [{ schedule: '@reboot' }, ['spec.cron.schedule']],
      [{ schedule: '0 0 30 2 *' }, ['spec.cron.schedule']],
      [{ schedule: '' }, ['spec.cron.schedule']],
      [{ schedule: '@daily', timeZone: 'Mars/Olympus' }, ['spec.cron.timeZone']],
      [{ schedule: '@daily', concurrencyPolicy: 'Sometimes' }, ['spec.cron.concurrencyPolicy']],
      [{ schedule: '@daily', startingDeadlineSeconds: -1 }, ['spec.cron.startingDeadlineSeconds']],
      [{ schedule: '@daily', successfulJobsHistoryLimit: 1.5 }, ['spec.cron.successfulJobsHistoryLimit']],
      [{ schedule: '@daily', failedJobsHistoryLimit: -2 }, ['spec.cron.failedJobsHistoryLimit']],
      [{ timeZone: 'UTC' }, ['spec.cron.schedule']],
      [{ schedule: '@daily' }, ['spec.resources[0].spec.restartPolicy'], { restartPolicy: 'Always' }],
    ];
    for (const [cron, fields, pod] of cases) {
      const answer = await invalid(WORKLOADS, withCron('cron-bad', cron, pod), fields);
      assert.match(answer.text, /Invalid|Unsupported|Required|must|should/i);
    }
  });

  test('a cron Workload holds no Deployment (it never completes)', async () => {
    const object = withCron('cron-kinds', { schedule: '@daily' });
    object.spec.resources.push({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'd' },
      spec: {
        selector: { matchLabels: { a: 'b' } },
        template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'x' }] } },
      } as never,
    });
    await invalid(WORKLOADS, object, ['spec.resources[1].kind']);
  });
});
