/** OpcUaConnector validation: what a bad spec is refused for, naming the field as kubectl shows it. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from './kind.ts';
import { opcUaConnectorKind, parseDurationMs } from './opcua-connector.ts';
import { validateObject } from './validation.ts';

const connector = (spec: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: 'outpost.dev/v1alpha1',
  kind: 'OpcUaConnector',
  metadata: { name: 'line-1', namespace: 'plant' },
  spec: {
    server: 'opc.tcp://plc-1:4840/UA/Server',
    subscriptions: { temperature: 'ns=2;s=Temperature', counter: 'i=2258' },
    devices: { matchLabels: { line: '1' } },
    ...spec,
  },
});

const fields = (spec: Record<string, unknown>) =>
  validateObject(opcUaConnectorKind, connector(spec)).causes.map((c) => c.field);

describe('OpcUaConnector validation', () => {
  it('accepts a full spec with every node id form, inline or Secret credentials, and security', () => {
    const good = [
      {},
      {
        subscriptions: {
          a: 'ns=2;s=Temperature',
          b: 'i=2258',
          c: 'ns=1;g=09087e75-8e5e-499b-954f-f2a9603db28a',
          d: 'ns=1;b=M/RbKBsRVkePCePcx24oRA==',
          'line_1.temp-2': 'ns=3;s=A.B/C',
        },
        credentials: { username: 'u', password: '' },
        security: { mode: 'Sign', policy: 'Aes256_Sha256_RsaPss' },
        defaults: { samplingInterval: '0', publishingInterval: '1m30s' },
        devices: {},
      },
      { credentials: { secretRef: { name: 'plc', usernameKey: 'user', passwordKey: 'pass.word' } } },
    ];
    for (const spec of good) assert.deepEqual(fields(spec), [], JSON.stringify(spec));
  });

  it('names the field of a bad URL, node id, feature, duration, security pair and credentials', () => {
    assert.deepEqual(fields({ server: 'http://plc:4840' }), ['spec.server']);
    assert.deepEqual(fields({ server: 'opc.tcp://' }), ['spec.server']);
    assert.deepEqual(fields({ subscriptions: { temperature: 'ns=2;x=Temperature' } }), [
      'spec.subscriptions.temperature',
    ]);
    assert.deepEqual(fields({ subscriptions: { 'a/b': 'i=1' } }), ['spec.subscriptions.a/b']);
    assert.deepEqual(fields({ subscriptions: {} }), ['spec.subscriptions']);
    assert.deepEqual(fields({ defaults: { samplingInterval: 'fast' } }), ['spec.defaults.samplingInterval']);
    assert.deepEqual(fields({ defaults: { publishingInterval: '5ms' } }), [
      'spec.defaults.publishingInterval',
    ]);
    assert.deepEqual(fields({ security: { mode: 'None', policy: 'Basic256Sha256' } }), [
      'spec.security.policy',
    ]);
    assert.deepEqual(fields({ security: { mode: 'SignAndEncrypt' } }), ['spec.security.policy']);
    assert.deepEqual(fields({ security: { mode: 'Encrypt' } }), ['spec.security.mode']);
    assert.deepEqual(fields({ credentials: { username: 'u', password: 'p', secretRef: { name: 's' } } }), [
      'spec.credentials.secretRef',
    ]);
    assert.deepEqual(fields({ credentials: { username: 'u' } }), ['spec.credentials.password']);
    assert.deepEqual(fields({ credentials: {} }), ['spec.credentials']);
    assert.deepEqual(fields({ devices: { matchExpressions: [{ key: 'line', operator: 'In' }] } }), [
      'spec.devices.matchExpressions[0].values',
    ]);
    const withoutDevices = connector();
    delete (withoutDevices.spec as Record<string, unknown>).devices;
    const missing = validateObject(opcUaConnectorKind, withoutDevices).causes;
    assert.deepEqual(
      missing.map((c) => [c.field, c.reason]),
      [['spec.devices', 'FieldValueRequired']],
    );
  });

  it('says what a node id looks like', () => {
    const [cause] = validateObject(
      opcUaConnectorKind,
      connector({ subscriptions: { t: 'Temperature' } }),
    ).causes;
    assert.match(cause?.message ?? '', /not an OPC UA node id.*ns=2;s=Temperature/);
  });

  it('reads durations as Go writes them, in milliseconds', () => {
    assert.equal(parseDurationMs('500ms'), 500);
    assert.equal(parseDurationMs('1s'), 1000);
    assert.equal(parseDurationMs('1.5s'), 1500);
    assert.equal(parseDurationMs('1m30s'), 90_000);
    assert.equal(parseDurationMs('2h'), 7_200_000);
    assert.equal(parseDurationMs('0'), 0);
    for (const bad of ['', '1', 's', '1 s', '-1s', '1d', '1sms'])
      assert.equal(parseDurationMs(bad), undefined, bad);
  });
});
