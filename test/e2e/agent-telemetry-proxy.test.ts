/**
 * The agent's telemetry uplink to a hub process, through an HTTPS proxy
 * (CONNECT) when `HTTPS_PROXY` is set, direct when `NO_PROXY` names the hub,
 * and onto a new connection when its certificate is renewed.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import YAML from 'yaml';
import { type DeviceCredentials, enroll } from '../../src/agent/enrollment/index.ts';
import { type AgentTelemetry, startAgentTelemetry } from '../../src/agent/index.ts';
import {
  createToken,
  type HubProcess,
  kubectl,
  kubectlApply,
  placementOf,
  removeDir,
  startConnectProxy,
  startHubProcess,
  tempDir,
  waitFor,
  waitForPlaced,
} from '../support/index.ts';

const DEVICE = 'gw-telemetry-proxy';

describe('agent telemetry uplink', { timeout: 180_000 }, () => {
  let hub: HubProcess;
  let credentials: DeviceCredentials;
  let subscriber: MqttClient;
  const dirs: string[] = [];
  const received: string[] = [];

  before(async () => {
    hub = await startHubProcess();
    const config = YAML.parse(readFileSync(hub.kubeconfig, 'utf8'));
    const decode = (data: string) => Buffer.from(data, 'base64').toString('utf8');
    const ca = decode(config.clusters[0].cluster['certificate-authority-data']);
    const enrollDir = await tempDir('outpost-telemetry-proxy-');
    dirs.push(enrollDir);
    credentials = await enroll({
      hubUrl: hub.url,
      token: await createToken(hub, ['--labels', 'site=proxy']),
      name: DEVICE,
      dataDir: enrollDir,
      caCert: ca,
    });
    // The hub accepts what a device sends up for `ns/c` only while Workload ns/c is placed on it.
    assert.equal((await kubectl(hub, ['create', 'namespace', 'ns'])).code, 0);
    await kubectlApply(
      hub,
      {
        apiVersion: 'outpost.dev/v1alpha1',
        kind: 'Workload',
        metadata: { name: 'c', namespace: 'ns', labels: { app: 'c' } },
        spec: {
          resources: [
            {
              apiVersion: 'v1',
              kind: 'Pod',
              metadata: { name: 'c' },
              spec: { containers: [{ name: 'main', image: 'localhost/busybox:latest', command: ['true'] }] },
            },
          ],
        },
      },
      placementOf('ns', 'c', { app: 'c', site: 'proxy' }),
    );
    await waitForPlaced(hub, DEVICE, 'c');
    subscriber = await mqtt.connectAsync(`${hub.url.replace(/^https/, 'wss')}/mqtt`, {
      protocolVersion: 4,
      reconnectPeriod: 0,
      ca,
      cert: decode(config.users[0].user['client-certificate-data']),
      key: decode(config.users[0].user['client-key-data']),
    });
    subscriber.on('message', (topic, payload) => received.push(`${topic} ${payload.toString()}`));
    await subscriber.subscribeAsync(`devices/${DEVICE}/#`, { qos: 1 });
  });

  after(async () => {
    await subscriber?.endAsync(true);
    await hub?.stop();
    for (const dir of dirs) await removeDir(dir);
  });

  /** Runs the agent's telemetry with `env`, publishes `count` messages locally and waits for them at the hub. */
  async function forward(
    env: NodeJS.ProcessEnv,
    body: (telemetry: AgentTelemetry, send: (text: string) => Promise<void>) => Promise<void>,
  ): Promise<void> {
    const dataDir = await tempDir('outpost-telemetry-proxy-agent-');
    dirs.push(dataDir);
    const telemetry = await startAgentTelemetry({
      dataDir,
      device: DEVICE,
      credentials: () => credentials,
      env,
    });
    const stop = new AbortController();
    const running = telemetry.run(stop.signal);
    const local = await mqtt.connectAsync(telemetry.url, { protocolVersion: 4 });
    try {
      await body(telemetry, async (text) => {
        await local.publishAsync('telemetry/ns/c/feature', text, { qos: 1 });
        await waitFor(`${text} at the hub`, () =>
          received.includes(`devices/${DEVICE}/telemetry/ns/c/feature ${text}`),
        );
      });
    } finally {
      await local.endAsync(true);
      stop.abort();
      await running;
      await telemetry.close();
    }
  }

  it('goes through HTTPS_PROXY, and reconnects through it with renewed credentials', async () => {
    const proxy = await startConnectProxy();
    const hubHost = new URL(hub.url).host;
    try {
      await forward({ HTTPS_PROXY: proxy.url }, async (telemetry, send) => {
        await send('"via proxy"');
        assert.deepEqual(proxy.connects, [hubHost]);
        telemetry.credentialsRenewed();
        await waitFor('a second tunnel', () => proxy.connects.length === 2);
        await send('"after renewal"');
        assert.deepEqual(proxy.connects, [hubHost, hubHost]);
      });
    } finally {
      await proxy.close();
    }
  });

  it('goes direct when NO_PROXY names the hub', async () => {
    const proxy = await startConnectProxy();
    try {
      await forward({ HTTPS_PROXY: proxy.url, NO_PROXY: 'localhost,127.0.0.1' }, async (_, send) => {
        await send('"direct"');
      });
      assert.deepEqual(proxy.connects, []);
    } finally {
      await proxy.close();
    }
  });
});
