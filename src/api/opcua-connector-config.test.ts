import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConnectorConfigError, isNodeId, parseConnectorConfig } from './index.ts';

const GOOD = `connector: { namespace: plant, name: line-1 }
server: opc.tcp://127.0.0.1:4840/UA/Outpost
subscriptions: { temperature: "ns=2;s=Temperature", pressure: "ns=2;s=Pressure" }
`;

function problemsOf(text: string): string[] {
  try {
    parseConnectorConfig(text, 'config.yaml');
  } catch (error) {
    assert.ok(error instanceof ConnectorConfigError);
    return error.problems.map((p) => p.field);
  }
  return assert.fail('the config was accepted');
}

test('applies the defaults to a minimal config', () => {
  const config = parseConnectorConfig(GOOD);
  assert.equal(config.securityMode, 'None');
  assert.equal(config.securityPolicy, 'None');
  assert.equal(config.samplingIntervalMs, 1000);
  assert.equal(config.publishingIntervalMs, 1000);
  assert.deepEqual(config.subscriptions, { temperature: 'ns=2;s=Temperature', pressure: 'ns=2;s=Pressure' });
});

test('names each bad field: server, node id, security mode, missing name, unknown field', () => {
  assert.deepEqual(problemsOf(GOOD.replace('opc.tcp', 'http')), ['server']);
  assert.deepEqual(problemsOf(GOOD.replace('ns=2;s=Pressure', 'Pressure')), ['subscriptions.pressure']);
  assert.deepEqual(problemsOf(`${GOOD}securityMode: Secure\n`), ['securityMode']);
  assert.deepEqual(problemsOf(GOOD.replace('name: line-1', 'nam: line-1')), ['connector.name']);
  assert.deepEqual(problemsOf(`${GOOD}broker: mqtt://x\n`), ['broker']);
  assert.deepEqual(problemsOf(`${GOOD}credentials: { username: u }\n`), ['credentials.password']);
});

test('refuses a security mode without a policy and a policy without a mode', () => {
  assert.deepEqual(problemsOf(`${GOOD}securityMode: SignAndEncrypt\n`), ['securityPolicy']);
  assert.deepEqual(problemsOf(`${GOOD}securityPolicy: Basic256Sha256\n`), ['securityMode']);
  const secure = parseConnectorConfig(`${GOOD}securityMode: Sign\nsecurityPolicy: Basic256Sha256\n`);
  assert.equal(secure.securityMode, 'Sign');
});

test('reports YAML that does not parse and an empty subscription list', () => {
  assert.throws(() => parseConnectorConfig('a: [', 'c.yaml'), /c\.yaml: not valid YAML/);
  assert.deepEqual(problemsOf(GOOD.replace(/subscriptions: .*/, 'subscriptions: {}')), ['subscriptions']);
});

test('recognises the string forms of node ids', () => {
  for (const id of [
    'ns=2;s=Temperature',
    'i=2258',
    'ns=1;i=5',
    'nsu=urn:x;s=A',
    'ns=3;g=72962B91-FA75-4AE6-8D28-B404DC7DAF63',
    'ns=1;b=AAE=',
  ])
    assert.ok(isNodeId(id), id);
  for (const id of ['Temperature', 'ns=2', 'ns=x;s=A', 's=', ''] as const) assert.ok(!isNodeId(id), id);
});
