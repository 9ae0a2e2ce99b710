/**
 * A nested network's gateway end to end, on one host: an `outpost hub`
 * process and an enrolled `outpost agent` (process runtime) declared a level-4
 * gateway. Declaring a level-3 child renders the gateway's Squid and
 * Mosquitto (a Workload and Placement in `outpost-system`), which the agent
 * runs as processes: the proxy lets the child's address CONNECT to the hub
 * and nowhere else, the broker bridges only the child's topics, and the
 * gateway's Device status lists its child and the health of both.
 * Decommissioning the child re-renders them and the proxy refuses it. A
 * child moved to another parent is admitted by its old parent's proxy until
 * its agent reports using the new one.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  type AgentProcess,
  type ApiClient,
  apiClient,
  createToken,
  freePort,
  type HubProcess,
  killWorkloads,
  recordedProcesses,
  removeDir,
  startAgent,
  startHubProcess,
  tempDir,
  waitFor,
} from '../support/index.ts';

const GATEWAY = 'gw-level4';
const CHILD = 'area-level3';
/** A second child, at another loopback address: it keeps its access when the first goes. */
const SIBLING = 'cell-level3';
/** Another level-4 gateway, where the sibling moves. */
const OTHER = 'gw2-level4';
const DEVICES = '/apis/outpost.dev/v1alpha1/devices';
const WORKLOAD = `/apis/outpost.dev/v1alpha1/namespaces/outpost-system/workloads/gateway-${GATEWAY}`;

/** Asks the proxy to CONNECT to `target` (`host:port`) from `from`; answers the HTTP status it gives. */
function connectStatus(proxyPort: number, target: string, from = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port: proxyPort, host: '127.0.0.1', localAddress: from });
    let text = '';
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer from the proxy')));
    socket.on('connect', () => socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`));
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      const line = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      if (line) {
        socket.destroy();
        resolve(Number(line[1]));
      }
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`proxy closed the connection: ${text}`)));
  });
}

describe('a gateway renders and runs its proxy and broker for its children', { timeout: 300_000 }, () => {
  let hub: HubProcess;
  let api: ApiClient;
  let agent: AgentProcess;
  let dataDir: string;
  let proxyPort: number;
  let brokerPort: number;
  let hubTarget: string;

  const patch = async (path: string, body: unknown) => {
    const answer = await api.request('PATCH', path, { body, contentType: 'application/merge-patch+json' });
    assert.equal(answer.status, 200, answer.text);
    return answer.json();
  };
  const device = async (name: string) => (await api.request('GET', `${DEVICES}/${name}`)).json();

  before(async () => {
    hub = await startHubProcess();
    api = apiClient(hub.kubeconfig);
    hubTarget = new URL(hub.url).host;
    dataDir = await tempDir('outpost-gateway-');
    agent = await startAgent({
      hubUrl: hub.url,
      token: await createToken(hub),
      dataDir,
      name: GATEWAY,
      args: ['--stop-workloads-on-exit'],
    });
    proxyPort = await freePort();
    brokerPort = await freePort();
    await patch(`${DEVICES}/${GATEWAY}`, {
      spec: { level: 4, gateway: { address: '127.0.0.1', proxyPort, brokerPort } },
    });
  });

  after(async () => {
    await agent?.stop();
    if (dataDir) killWorkloads(dataDir);
    await api?.close();
    await hub?.stop();
    if (dataDir) await removeDir(dataDir);
    if (hub) await removeDir(hub.dataDir);
  });

  it('renders nothing for a device without children', async () => {
    const answer = await api.request('GET', WORKLOAD);
    assert.equal(answer.status, 404, answer.text);
  });

  it("runs Squid and Mosquitto on the gateway once it has a child: the child's address reaches the hub only", async () => {
    for (const [name, address] of [
      [CHILD, '127.0.0.1'],
      [SIBLING, '127.0.0.2'],
    ] as const) {
      const created = await api.request('POST', DEVICES, {
        body: {
          apiVersion: 'outpost.dev/v1alpha1',
          kind: 'Device',
          metadata: { name },
          spec: { parent: GATEWAY, level: 3 },
        },
      });
      assert.equal(created.status, 201, created.text);
      // What the child's agent reports: its parent's proxy ACL is built from it.
      await patch(`${DEVICES}/${name}/status`, { status: { system: { addresses: [address] } } });
    }

    const workload = await waitFor('the rendered Workload allowing the child', async () => {
      const answer = await api.request('GET', WORKLOAD);
      const body = answer.status === 200 ? answer.json() : undefined;
      const config = body?.spec.resources.find((r: { kind: string }) => r.kind === 'ConfigMap');
      return config?.data['squid.conf'].includes('acl children src 127.0.0.1 127.0.0.2') ? body : undefined;
    });
    const config = workload.spec.resources.find((r: { kind: string }) => r.kind === 'ConfigMap').data;
    assert.match(
      config['mosquitto.acl'],
      new RegExp(`user outpost:device:${CHILD}\\ntopic write devices/${CHILD}/telemetry/#`),
    );
    assert.match(config['squid.conf'], new RegExp(`acl upstream_port port ${new URL(hub.url).port}`));

    const status = await waitFor(
      'the gateway reporting its proxy and broker ready',
      async () => {
        const nested = (await device(GATEWAY)).status?.nested;
        return nested?.proxy?.ready && nested?.broker?.ready ? nested : undefined;
      },
      120_000,
    ).catch(async (error: Error) => {
      const mailbox = await api.request('GET', `/apis/outpost.dev/v1alpha1/mailboxes/${GATEWAY}`);
      const logs = recordedProcesses(dataDir).map(({ logPath }) =>
        readFileSync(logPath, 'utf8').slice(-2000),
      );
      throw new Error(
        `${error.message}; the gateway's Mailbox status: ${JSON.stringify(mailbox.json().status)}; output: ${logs.join('\n---\n')}`,
      );
    });
    assert.deepEqual(status.children, [CHILD, SIBLING]);
    assert.equal(status.workload, `outpost-system/gateway-${GATEWAY}`);
    assert.equal((await device(CHILD)).status?.nested?.parent, 'Reachable');

    assert.equal(await connectStatus(proxyPort, hubTarget), 200);
    assert.equal(await connectStatus(proxyPort, hubTarget, '127.0.0.2'), 200);
    // Anywhere else is refused, as is any address that is not a child's.
    assert.equal(await connectStatus(proxyPort, `127.0.0.1:${brokerPort}`), 403);
    assert.equal(await connectStatus(proxyPort, hubTarget, '127.0.0.3'), 403);
  });

  it("refuses a decommissioned child's CONNECTs and keeps its sibling's", async () => {
    const started = performance.now();
    const deleted = await api.request('DELETE', `${DEVICES}/${CHILD}`);
    assert.equal(deleted.status, 200, deleted.text);
    await waitFor(
      'the proxy refusing the decommissioned child',
      async () => {
        try {
          return (await connectStatus(proxyPort, hubTarget)) === 403;
        } catch {
          return false; // Squid restarting, or gone with its Workload.
        }
      },
      60_000,
      200,
    );
    const seconds = (performance.now() - started) / 1000;
    console.log(`# proxy access closed ${seconds.toFixed(1)} s after the child was deleted`);
    assert.equal(await connectStatus(proxyPort, hubTarget, '127.0.0.2'), 200);
    const gateway = await waitFor('the gateway status listing the sibling only', async () => {
      const nested = (await device(GATEWAY)).status?.nested;
      return nested?.children?.length === 1 ? nested : undefined;
    });
    assert.deepEqual(gateway.children, [SIBLING]);
  });

  it("keeps admitting a child moved to another parent until its agent reports the new parent's proxy", async () => {
    const own = `http://127.0.0.1:${proxyPort}`;
    const otherProxy = `http://127.0.0.5:${await freePort()}`;
    // The new parent is declared only (no agent runs its proxy): what matters is this gateway's.
    const created = await api.request('POST', DEVICES, {
      body: {
        apiVersion: 'outpost.dev/v1alpha1',
        kind: 'Device',
        metadata: { name: OTHER },
        spec: {
          level: 4,
          gateway: {
            address: '127.0.0.5',
            proxyPort: Number(new URL(otherProxy).port),
            brokerPort: await freePort(),
          },
        },
      },
    });
    assert.equal(created.status, 201, created.text);
    // What the sibling's agent reports with each heartbeat: it reaches the hub through this gateway.
    const heartbeat = (hubProxy: string) =>
      patch(`${DEVICES}/${SIBLING}/status`, {
        status: {
          lastHeartbeatTime: new Date().toISOString(),
          system: { addresses: ['127.0.0.2'], hubProxy },
        },
      });
    await heartbeat(own);
    await patch(`${DEVICES}/${SIBLING}`, { spec: { parent: OTHER } });
    await waitFor(
      "the moved child told its new parent's proxy",
      async () => (await device(SIBLING)).status?.nested?.hubProxy === otherProxy,
    );
    await waitFor('the gateway without children', async () => {
      const nested = (await device(GATEWAY)).status?.nested;
      return nested?.children?.length === 0;
    });
    // Until its agent uses the new proxy, the old one lets it through (Squid may be restarting: ask again).
    const answerFrom = async (address: string) => {
      try {
        return await connectStatus(proxyPort, hubTarget, address);
      } catch {
        return undefined;
      }
    };
    const config = (await api.request('GET', WORKLOAD))
      .json()
      .spec.resources.find((r: { kind: string }) => r.kind === 'ConfigMap').data;
    assert.match(config['squid.conf'], /acl children src 127\.0\.0\.2\n/);
    assert.doesNotMatch(config['mosquitto.acl'], new RegExp(SIBLING), "its broker is its new parent's");
    assert.equal(await waitFor('an answer for the moved child', () => answerFrom('127.0.0.2'), 60_000), 200);
    // Its agent took up the new proxy: the old parent refuses it, and has nothing left to serve.
    await heartbeat(otherProxy);
    await waitFor(
      'the old proxy refusing the moved child',
      async () => (await answerFrom('127.0.0.2')) !== 200,
      60_000,
      200,
    );
    await waitFor(
      'the old gateway Workload removed',
      async () => (await api.request('GET', WORKLOAD)).status === 404,
    );
  });

  it("tells a child whose parent is decommissioned, and one whose parent is cleared, and drops the parent's proxy", async () => {
    const deleted = await api.request('DELETE', `${DEVICES}/${OTHER}`);
    assert.equal(deleted.status, 200, deleted.text);
    const missing = await waitFor('the child told its parent is missing', async () => {
      const nested = (await device(SIBLING)).status?.nested;
      return nested?.parent === 'ParentMissing' ? nested : undefined;
    });
    assert.deepEqual(missing, { parent: 'ParentMissing' }, 'no proxy or broker of a parent that is gone');
    await patch(`${DEVICES}/${SIBLING}`, { spec: { parent: null } });
    await waitFor(
      'the nested status gone with the parent',
      async () => (await device(SIBLING)).status?.nested === undefined,
    );
  });

  it('removes the plumbing once the last child is gone', async () => {
    const deleted = await api.request('DELETE', `${DEVICES}/${SIBLING}`);
    assert.equal(deleted.status, 200, deleted.text);
    await waitFor(
      'the gateway Workload removed',
      async () => (await api.request('GET', WORKLOAD)).status === 404,
    );
    await waitFor('the gateway status without children', async () => {
      const gateway = await device(GATEWAY);
      return (
        gateway.status?.nested === undefined && gateway.metadata.labels?.['outpost.dev/gateway'] === undefined
      );
    });
  });
});
