/**
 * Nested networks end to end, in real network isolation (root only): the hub
 * in the root namespace, a level-4 gateway, a level-3 gateway and a level-2
 * device each in its own namespace (test/support/levels.ts), each agent
 * started inside it. Level 4 enrolls directly; level 3 and level 2 enroll
 * with tokens naming their parent (`outpost token create --parent`), which
 * carry the parent's proxy: they reach the hub only through the rendered
 * Squid of each level above (run by the gateways' agents as process
 * workloads), admitted by the gateways' declared child networks until their
 * Devices exist. A Workload placed on the level-2 device runs; its
 * decommissioning closes level 3's proxy to it; a child whose parent stops is
 * reported ParentUnreachable.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type AgentProcess,
  type ApiClient,
  apiClient,
  canBuildLevels,
  createLevels,
  createToken,
  currentStatus,
  getMailbox,
  type HubProcess,
  kubectl,
  type LevelNumber,
  type Levels,
  recordedProcesses,
  removeDir,
  startAgent,
  startHubProcess,
  tempDir,
  waitFor,
} from '../support/index.ts';

const DEVICES = '/apis/outpost.dev/v1alpha1/devices';
const NAMES: Record<LevelNumber, string> = { 4: 'enterprise-l4', 3: 'site-l3', 2: 'area-l2' };
/** Each gateway's proxy port: every level is its own namespace, so the defaults never collide. */
const PROXY_PORT = 3128;

describe('three levels in network namespaces reach the hub only through their parents', {
  skip: !canBuildLevels() && 'needs root and ip netns',
  timeout: 600_000,
}, () => {
  let levels: Levels;
  let hub: HubProcess;
  let api: ApiClient;
  const agents = new Map<LevelNumber, AgentProcess>();
  const dataDirs = new Map<LevelNumber, string>();

  const device = async (name: string) => (await api.request('GET', `${DEVICES}/${name}`)).json();
  const patch = async (path: string, body: unknown) => {
    const answer = await api.request('PATCH', path, { body, contentType: 'application/merge-patch+json' });
    assert.equal(answer.status, 200, answer.text);
  };
  /** What the gateway's Mailbox and its workloads' output say, for a failure's message. */
  const diagnosis = async (level: LevelNumber) => {
    const mailbox = await getMailbox(api, NAMES[level]);
    const logs = recordedProcesses(dataDirs.get(level)!).map(({ logPath }) => {
      try {
        return readFileSync(logPath, 'utf8').slice(-1500);
      } catch {
        return '';
      }
    });
    return `${NAMES[level]}'s Mailbox status: ${JSON.stringify(mailbox?.status)}; agent: ${agents.get(level)?.stderr().slice(-3000)}; workloads: ${logs.join('\n---\n')}`;
  };
  const start = async (level: LevelNumber, token: string) => {
    const dataDir = await tempDir(`outpost-level${level}-`);
    dataDirs.set(level, dataDir);
    agents.set(
      level,
      await startAgent({
        hubUrl: hub.url,
        token,
        dataDir,
        name: NAMES[level],
        netns: levels.levels[level].netns,
        args: ['--stop-workloads-on-exit'],
      }),
    );
  };
  /** The HTTP status level 2 gets from level 3's proxy for `target`, waiting out a restart of Squid (a new configuration). */
  const askLevel3 = (target: string) =>
    waitFor(`an answer from level 3's proxy for ${target}`, async () => {
      const answer = await levels.proxyConnect(2, `${levels.levels[3].downAddress}:${PROXY_PORT}`, target);
      return /^\d{3}$/.test(answer) ? answer : undefined;
    });
  /** Declares the device a gateway of the level below, and waits for its proxy to run. */
  const becomeGateway = async (level: 4 | 3) => {
    const below = levels.levels[(level - 1) as LevelNumber];
    await patch(`${DEVICES}/${NAMES[level]}`, {
      spec: {
        level,
        // Short heartbeats: a stopped gateway is seen Unreachable in seconds.
        heartbeat: { periodSeconds: 2 },
        gateway: {
          address: levels.levels[level].downAddress,
          proxyPort: PROXY_PORT,
          childNetworks: [below.network],
        },
      },
    });
    await waitFor(
      `${NAMES[level]}'s proxy running`,
      async () => (await device(NAMES[level])).status?.nested?.proxy?.ready === true,
      180_000,
    ).catch(async (error: Error) => {
      throw new Error(`${error.message}; ${await diagnosis(level)}`);
    });
  };

  before(async () => {
    levels = await createLevels();
    hub = await startHubProcess({ args: ['--listen', `${levels.hubAddress}:0`] });
    api = apiClient(hub.kubeconfig);
  });

  after(async () => {
    for (const agent of agents.values()) await agent.stop().catch(() => {});
    // Whatever still runs inside (the gateways' Squid and Mosquitto, workloads) goes with the namespaces.
    await levels?.remove();
    await api?.close();
    await hub?.stop();
    for (const dir of dataDirs.values()) await removeDir(dir);
    if (hub) await removeDir(hub.dataDir);
  });

  it('enrolls level 4 directly and runs its proxy for level 3', async () => {
    await start(4, await createToken(hub));
    await becomeGateway(4);
  });

  it("enrolls level 3 through level 4's proxy with a token naming its parent", async () => {
    assert.equal(
      await levels.reach(3, levels.hubAddress, Number(new URL(hub.url).port)),
      'ENETUNREACH',
      'level 3 has no route to the hub',
    );
    const token = await createToken(hub, ['--parent', NAMES[4]]);
    await start(3, token);
    const site = await device(NAMES[3]);
    assert.equal(site.spec.parent, NAMES[4]);
    assert.equal(site.spec.level, 3, "one below the parent's, from the token");
    await becomeGateway(3);
  });

  it('enrolls level 2 through two proxies; its direct route to the hub fails and the proxied one works', async () => {
    const hubTarget = new URL(hub.url).host;
    assert.equal(await levels.reach(2, levels.hubAddress, Number(new URL(hub.url).port)), 'ENETUNREACH');
    const token = await createToken(hub, ['--parent', NAMES[3]]);
    await start(2, token);
    const area = await waitFor('level 2 heartbeating through its parents', async () => {
      const object = await device(NAMES[2]);
      return object.status?.system?.addresses?.includes(levels.levels[2].address) &&
        object.status?.nested?.parent === 'Reachable'
        ? object
        : undefined;
    });
    assert.equal(area.spec.parent, NAMES[3]);
    // The agent keeps the proxy its token carried, for every later start.
    assert.equal(
      readFileSync(join(dataDirs.get(2)!, 'hub-proxy'), 'utf8').trim(),
      `http://${levels.levels[3].downAddress}:${PROXY_PORT}`,
    );
    assert.equal(area.status.nested.hubProxy, `http://${levels.levels[3].downAddress}:${PROXY_PORT}`);
    assert.equal(await askLevel3(hubTarget), '200');
    // Through the proxy, the hub only: anything else is refused at level 3.
    assert.equal(await askLevel3(`${levels.hubAddress}:22`), '403');
    const l3 = (await device(NAMES[3])).status.nested;
    assert.deepEqual(l3.children, [NAMES[2]]);
    assert.deepEqual((await device(NAMES[4])).status.nested.children, [NAMES[3]]);
    const table = await kubectl(hub, ['get', 'devices']);
    assert.match(table.stdout, new RegExp(`${NAMES[2]}\\s.*${NAMES[3]}\\s+2\\b`), table.stdout);
  });

  it('runs a Workload placed on the level-2 device', async () => {
    await patch(`${DEVICES}/${NAMES[2]}`, { metadata: { labels: { area: 'packaging' } } });
    const manifest = {
      apiVersion: 'outpost.dev/v1alpha1',
      kind: 'Workload',
      metadata: { name: 'line-monitor', namespace: 'default' },
      spec: {
        resources: [
          {
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            metadata: { name: 'line-monitor' },
            spec: {
              replicas: 1,
              selector: { matchLabels: { app: 'line-monitor' } },
              template: {
                metadata: { labels: { app: 'line-monitor' } },
                spec: {
                  containers: [
                    {
                      name: 'monitor',
                      image: 'docker.io/library/debian:bookworm',
                      command: ['/bin/sleep', '3600'],
                    },
                  ],
                },
              },
            },
          },
        ],
      },
    };
    const placed = {
      apiVersion: 'outpost.dev/v1alpha1',
      kind: 'Placement',
      metadata: { name: 'line-monitor', namespace: 'default' },
      spec: {
        workloadSelector: { names: ['line-monitor'] },
        deviceSelector: { matchLabels: { area: 'packaging' } },
      },
    };
    for (const [path, body] of [
      ['/apis/outpost.dev/v1alpha1/namespaces/default/workloads', manifest],
      ['/apis/outpost.dev/v1alpha1/namespaces/default/placements', placed],
    ] as const) {
      const created = await api.request('POST', path, { body });
      assert.equal(created.status, 201, created.text);
    }
    const status = await waitFor(
      'the Workload Running on level 2',
      async () => {
        const running = currentStatus(await getMailbox(api, NAMES[2]), 'Deployment', 'line-monitor');
        return running?.phase === 'Running' ? running : undefined;
      },
      120_000,
    ).catch(async (error: Error) => {
      throw new Error(`${error.message}; ${await diagnosis(2)}`);
    });
    assert.equal(status.phase, 'Running');
    const table = await kubectl(hub, ['get', 'workloads', '-n', 'default']);
    assert.match(table.stdout, /line-monitor/, table.stdout);
  });

  it("closes level 3's proxy to the level-2 device once it is decommissioned", async () => {
    const proxy = `${levels.levels[3].downAddress}:${PROXY_PORT}`;
    const hubTarget = new URL(hub.url).host;
    // The agent would answer its decommissioning by forgetting its credentials: stop it first.
    await agents.get(2)!.stop();
    const started = performance.now();
    const deleted = await api.request('DELETE', `${DEVICES}/${NAMES[2]}`);
    assert.equal(deleted.status, 200, deleted.text);
    await waitFor(
      "level 3's proxy refusing the decommissioned device",
      async () => (await levels.proxyConnect(2, proxy, hubTarget)) === '403',
      60_000,
      100,
    );
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `# level 3's proxy refused the decommissioned level-2 device ${seconds.toFixed(1)} s after its deletion`,
    );
    // Refused although its address is inside level 3's declared child network.
    assert.match((await device(NAMES[3])).spec.gateway.childNetworks[0], /\/30$/);
  });

  it('reports a child whose parent is down as ParentUnreachable', async () => {
    await agents.get(4)!.stop();
    const nested = await waitFor(
      'level 3 reported ParentUnreachable',
      async () => {
        const state = (await device(NAMES[3])).status?.nested;
        return state?.parent === 'ParentUnreachable' ? state : undefined;
      },
      120_000,
    );
    assert.equal(nested.parent, 'ParentUnreachable');
  });
});
