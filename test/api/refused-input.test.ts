/**
 * Input the apiserver refuses and the hub once took: finalizers that are not qualified names,
 * annotations over 256 KiB together, ConfigMap and Secret keys that are no file names, bodies
 * without apiVersion, Placement selectors with invalid label keys or values. Each is a Status
 * naming the field.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { call, type InProcessHub, startInProcessHub } from '../support/in-process/index.ts';

const CONFIGMAPS = '/api/v1/namespaces/default/configmaps';
const PLACEMENTS = '/apis/outpost.dev/v1alpha1/namespaces/default/placements';

let hub: InProcessHub;

before(async () => {
  hub = await startInProcessHub();
  const namespace = await call(hub.app, {
    method: 'POST',
    url: '/api/v1/namespaces',
    payload: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } },
  });
  assert.equal(namespace.status, 201, namespace.text);
});
after(async () => {
  await hub?.close();
});

const post = (url: string, payload: unknown) =>
  call(hub.app, { method: 'POST', url, payload: payload as object });
const configMap = (metadata: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata,
  ...extra,
});

/** The fields of a 422's causes. */
function invalidFields(answer: {
  status: number;
  text: string;
  body: { details?: { causes?: Array<{ field: string }> } };
}) {
  assert.equal(answer.status, 422, answer.text);
  return (answer.body.details?.causes ?? []).map((cause) => cause.field);
}

describe('metadata', () => {
  test('finalizers must be qualified names', async () => {
    const refused = await post(
      CONFIGMAPS,
      configMap({ name: 'fin', finalizers: ['example.com/ok', 'not a name!'] }),
    );
    assert.deepEqual(invalidFields(refused), ['metadata.finalizers[1]']);
    assert.match(refused.body.message, /not a name!/);
    const accepted = await post(CONFIGMAPS, configMap({ name: 'fin', finalizers: ['example.com/cleanup'] }));
    assert.equal(accepted.status, 201, accepted.text);
  });

  test('annotations may hold 256 KiB together, no more', async () => {
    const half = 'x'.repeat(128 * 1024);
    const refused = await post(CONFIGMAPS, configMap({ name: 'big', annotations: { a: half, b: half } }));
    assert.deepEqual(invalidFields(refused), ['metadata.annotations']);
    assert.equal(refused.body.details.causes[0].reason, 'FieldValueTooLong');
    const accepted = await post(
      CONFIGMAPS,
      configMap({ name: 'big', annotations: { a: half, b: half.slice(10) } }),
    );
    assert.equal(accepted.status, 201, accepted.text);
  });

  test('a body without apiVersion is a 400 for a kind of our own, as for a custom resource', async () => {
    const workload = { kind: 'Workload', metadata: { name: 'typeless' }, spec: { resources: [] } };
    const refused = await post('/apis/outpost.dev/v1alpha1/namespaces/default/workloads', workload);
    assert.equal(refused.status, 400, refused.text);
    assert.match(refused.body.message, /Object 'apiVersion' is missing/);
    const put = await call(hub.app, {
      method: 'PUT',
      url: `${PLACEMENTS}/typeless`,
      payload: { kind: 'Placement', metadata: { name: 'typeless' } },
    });
    assert.equal(put.status, 400, put.text);
    // Built-in kinds take it from the URL, as the apiserver's decoder does.
    const builtIn = await post(CONFIGMAPS, { metadata: { name: 'typeless' } });
    assert.equal(builtIn.status, 201, builtIn.text);
  });
});

describe('config keys', () => {
  test('ConfigMap data and binaryData keys must be file names', async () => {
    const refused = await post(
      CONFIGMAPS,
      configMap(
        { name: 'keys' },
        { data: { 'a/b': 'x', ok: 'y', '..': 'z' }, binaryData: { 'c d': 'AA==' } },
      ),
    );
    assert.deepEqual(invalidFields(refused).sort(), ['binaryData[c d]', 'data[..]', 'data[a/b]']);
    const duplicate = await post(
      CONFIGMAPS,
      configMap({ name: 'keys' }, { data: { k: 'x' }, binaryData: { k: 'AA==' } }),
    );
    assert.deepEqual(invalidFields(duplicate), ['binaryData[k]']);
    const accepted = await post(
      CONFIGMAPS,
      configMap({ name: 'keys' }, { data: { 'app.conf': 'x', KEY_1: 'y' } }),
    );
    assert.equal(accepted.status, 201, accepted.text);
  });

  test('Secret keys likewise, stringData included', async () => {
    const refused = await post('/api/v1/namespaces/default/secrets', {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's' },
      stringData: { 'etc/passwd': 'x' },
    });
    assert.deepEqual(invalidFields(refused), ['data[etc/passwd]']);
  });
});

describe('Placement selectors', () => {
  const placement = (deviceSelector: unknown, workloadSelector: unknown = {}) => ({
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Placement',
    metadata: { name: 'p' },
    spec: { workloadSelector, deviceSelector },
  });

  test('label keys must be qualified names and values label values', async () => {
    const refused = await post(
      PLACEMENTS,
      placement(
        {
          matchLabels: { 'bad key!': 'x', site: 'v'.repeat(64) },
          matchExpressions: [
            { key: 'tier', operator: 'In', values: ['ok', 'not ok'] },
            { key: '-x', operator: 'Exists' },
          ],
        },
        { matchLabels: { app: 'a/b' } },
      ),
    );
    assert.deepEqual(invalidFields(refused).sort(), [
      'spec.deviceSelector.matchExpressions[0].values[1]',
      'spec.deviceSelector.matchExpressions[1].key',
      'spec.deviceSelector.matchLabels',
      'spec.deviceSelector.matchLabels',
      'spec.workloadSelector.matchLabels',
    ]);
    const accepted = await post(PLACEMENTS, placement({ matchLabels: { 'example.com/site': 'plant-a' } }));
    assert.equal(accepted.status, 201, accepted.text);
  });
});
