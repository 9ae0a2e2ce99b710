/**
 * Devices' places in the nested network (ISA-95 levels): a parent cycle, a parent that does
 * not exist, a parent whose level is not above the child's, and a level change that would put
 * a parent at or below its children are 422s naming the field and write nothing; a good tree
 * is stored and printed with its PARENT and LEVEL columns.
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

const DEVICES = '/apis/outpost.dev/v1alpha1/devices';
let hub: InProcessHub;

before(async () => {
  hub = await startInProcessHub();
});

after(async () => {
  await hub?.close();
});

const device = (name: string, spec: { parent?: string; level?: number }) => ({
  apiVersion: 'outpost.dev/v1alpha1',
  kind: 'Device',
  metadata: { name },
  spec,
});

async function create(name: string, spec: { parent?: string; level?: number }): Promise<Answer> {
  const answer = await call(hub.app, { method: 'POST', url: DEVICES, payload: device(name, spec) });
  assert.equal(answer.status, 201, answer.text);
  return answer;
}

/** Sends a write, expects a 422 naming exactly `field` with a message matching `message`, and no write. */
async function refused(
  request: { method: 'POST' | 'PATCH'; url: string; payload: Record<string, unknown> },
  field: string,
  message: RegExp,
): Promise<void> {
  const recorder = await recordWrites(hub.store);
  const answer = await call(hub.app, {
    ...request,
    headers: request.method === 'PATCH' ? { 'content-type': 'application/merge-patch+json' } : {},
  });
  assert.equal(answer.status, 422, answer.text);
  assert.equal(answer.body.reason, 'Invalid', answer.text);
  const causes = (answer.body.details as { causes: Array<{ field: string; message: string }> }).causes;
  assert.deepEqual(
    causes.map((cause) => cause.field),
    [field],
    answer.text,
  );
  assert.match(causes[0]?.message ?? '', message);
  await recorder.assertUnchanged(`${request.method} ${request.url}`);
}

const patch = (name: string, spec: Record<string, unknown>) => ({
  method: 'PATCH' as const,
  url: `${DEVICES}/${name}`,
  payload: { spec },
});

describe('device topology', () => {
  before(async () => {
    await create('enterprise', { level: 4 });
    await create('site', { parent: 'enterprise', level: 3 });
    await create('area', { parent: 'site', level: 2 });
  });

  test('prints PARENT and LEVEL as kubectl get devices shows them', async () => {
    const table = await call(hub.app, {
      method: 'GET',
      url: DEVICES,
      headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' },
    });
    const names = table.body.columnDefinitions.map((c: { name: string }) => c.name) as string[];
    const parent = names.indexOf('Parent');
    const level = names.indexOf('Level');
    assert.ok(parent > 0 && level > 0, names.join(','));
    const rows = new Map<string, unknown[]>(
      (table.body.rows as Array<{ cells: unknown[] }>).map((row) => [row.cells[0] as string, row.cells]),
    );
    assert.deepEqual([rows.get('area')?.[parent], rows.get('area')?.[level]], ['site', 2]);
    assert.deepEqual([rows.get('enterprise')?.[parent], rows.get('enterprise')?.[level]], ['<none>', 4]);
  });

  test('refuses a parent that does not exist', async () => {
    await refused(
      { method: 'POST', url: DEVICES, payload: device('orphan', { parent: 'nowhere', level: 2 }) },
      'spec.parent',
      /parent device "nowhere" does not exist/,
    );
  });

  test('refuses a parent whose level is not above the child', async () => {
    await refused(
      { method: 'POST', url: DEVICES, payload: device('peer', { parent: 'area', level: 2 }) },
      'spec.parent',
      /level 2, not above this device's level 2/,
    );
    await refused(
      { method: 'POST', url: DEVICES, payload: device('upward', { parent: 'area', level: 3 }) },
      'spec.parent',
      /not above/,
    );
  });

  test('refuses a parent cycle', async () => {
    // enterprise -> area would close enterprise -> area -> site -> enterprise.
    await refused(
      patch('enterprise', { parent: 'area' }),
      'spec.parent',
      /parent cycle: enterprise -> area -> site -> enterprise/,
    );
    await refused(patch('site', { parent: 'site' }), 'spec.parent', /its own parent/);
  });

  test('refuses a parent without a level and a child without one', async () => {
    await create('unlevelled', {});
    await refused(
      {
        method: 'POST',
        url: DEVICES,
        payload: device('under-unlevelled', { parent: 'unlevelled', level: 1 }),
      },
      'spec.parent',
      /has no spec.level/,
    );
    await refused(
      { method: 'POST', url: DEVICES, payload: device('no-level', { parent: 'site' }) },
      'spec.level',
      /must declare its level/,
    );
  });

  test('refuses lowering a parent to its children level', async () => {
    await refused(
      patch('site', { level: 2 }),
      'spec.level',
      /not above the level of its children: area \(level 2\)/,
    );
  });

  test('moves a device to another parent of a higher level', async () => {
    await create('site-b', { parent: 'enterprise', level: 3 });
    const moved = await call(hub.app, {
      method: 'PATCH',
      url: `${DEVICES}/area`,
      headers: { 'content-type': 'application/merge-patch+json' },
      payload: { spec: { parent: 'site-b' } },
    });
    assert.equal(moved.status, 200, moved.text);
    assert.equal(moved.body.spec.parent, 'site-b');
  });
});

describe("a gateway's child networks", () => {
  test('are CIDRs the proxy can use: anything else is a 422 naming the entry', async () => {
    await create('gateway-nets', { level: 4 });
    const cases: [string, RegExp][] = [
      ['10.0.3.0', /not a network such as/],
      ['10.0.3.9/24', /host bits set: the network is 10\.0\.3\.0\/24/],
      ['10.0.0.0/33', /at most \/32/],
      ['0.0.0.0/0', /every address/],
      ['lan', /not a network/],
    ];
    for (const [network, message] of cases)
      await refused(
        patch('gateway-nets', { gateway: { childNetworks: ['10.0.2.0/30', network] } }),
        'spec.gateway.childNetworks[1]',
        message,
      );
    const good = await call(hub.app, {
      method: 'PATCH',
      url: `${DEVICES}/gateway-nets`,
      headers: { 'content-type': 'application/merge-patch+json' },
      payload: { spec: { gateway: { childNetworks: ['10.0.2.0/30', 'fd00:3::/64'] } } },
    });
    assert.equal(good.status, 200, good.text);
  });
});
