/**
 * The agent holds one connection to the hub: an `outpost hub` process, an
 * `outpost agent` process with the process runtime, and a workload whose
 * output `outpost logs -f` follows. While the Mailbox watch is open,
 * heartbeats go every second and the log relay streams its answer up, the
 * agent process has exactly one TCP connection to the hub's port, the same
 * one throughout (HTTP/2 streams on one session), and the hub sees exactly
 * that one from the agent. Deleting the Device destroys that connection; the
 * agent's next requests, on a new one, get 401.
 *
 * Connections are read from /proc: the process's socket inodes
 * (`/proc/PID/fd`) matched with the established rows of `/proc/PID/net/tcp{,6}`.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { loadCredentials } from '../../src/agent/enrollment/index.ts';
import { HubApi } from '../../src/agent/index.ts';
import {
  type AgentProcess,
  type ApiClient,
  apiClient,
  createToken,
  currentStatus,
  getMailbox,
  type HubProcess,
  killWorkloads,
  kubectl,
  kubectlApply,
  OUTPOST_BIN,
  placementOf,
  removeDir,
  startAgent,
  startHubProcess,
  tempDir,
  waitFor,
} from '../support/index.ts';

const NS = 'http2-e2e';
const DEVICE = 'gw-http2-1';

/** One established TCP connection of a process: its local and remote ports. */
interface Tcp {
  readonly local: number;
  readonly remote: number;
}

/** The established TCP connections of process `pid`. */
function tcpConnections(pid: number): Tcp[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
      if (inode) inodes.add(inode);
    } catch {
      // closed meanwhile
    }
  }
  // Keyed by the ports: the kernel's table can show a row twice when it changes while it is read.
  const found = new Map<string, Tcp>();
  for (const table of ['tcp', 'tcp6']) {
    const rows = readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1);
    for (const row of rows) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      const fields = row.trim().split(/\s+/);
      if (fields.length < 10 || fields[3] !== '01' || !inodes.has(fields[9]!)) continue;
      const port = (address: string) => Number.parseInt(address.split(':').at(-1)!, 16);
      const tcp = { local: port(fields[1]!), remote: port(fields[2]!) };
      found.set(`${tcp.local}-${tcp.remote}`, tcp);
    }
  }
  return [...found.values()];
}

const workload = {
  apiVersion: 'outpost.dev/v1alpha1',
  kind: 'Workload',
  metadata: { name: 'ticker', namespace: NS, labels: { app: 'ticker' } },
  spec: {
    resources: [
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'ticker' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'ticker' } },
          template: {
            metadata: { labels: { app: 'ticker' } },
            spec: {
              terminationGracePeriodSeconds: 1,
              containers: [
                {
                  name: 'main',
                  image: 'localhost/busybox:latest',
                  command: ['sh', '-c', 'n=0; while true; do n=$((n+1)); echo "tick $n"; sleep 0.2; done'],
                },
              ],
            },
          },
        },
      },
    ],
  },
};

const placement = placementOf(NS, 'http2-devices', { app: 'ticker', site: 'http2-e2e' });

describe('the agent on one HTTP/2 connection to the hub', { timeout: 240_000 }, () => {
  let hub: HubProcess;
  let hubPort: number;
  let agent: AgentProcess;
  let api: ApiClient;
  let dataDir: string;
  let follower: ChildProcess | undefined;

  /** The agent's connections to the hub's port, and the hub's connections from the agent's ports. */
  const connections = () => {
    const fromAgent = tcpConnections(agent.process.pid!).filter((c) => c.remote === hubPort);
    const agentPorts = new Set(fromAgent.map((c) => c.local));
    const atHub = tcpConnections(hub.process.pid!).filter(
      (c) => c.local === hubPort && agentPorts.has(c.remote),
    );
    return { agentPorts: [...agentPorts], atHub: atHub.map((c) => c.remote) };
  };

  before(async () => {
    hub = await startHubProcess();
    hubPort = Number(new URL(hub.url).port);
    api = apiClient(hub.kubeconfig);
    dataDir = await tempDir('outpost-agent-http2-');
    const token = await createToken(hub, ['--labels', 'site=http2-e2e']);
    agent = await startAgent({ hubUrl: hub.url, token, dataDir, name: DEVICE });
    const ns = await kubectl(hub, ['create', 'namespace', NS]);
    assert.equal(ns.code, 0, ns.stderr);
  });

  after(async () => {
    follower?.kill('SIGKILL');
    await agent?.stop();
    if (dataDir) killWorkloads(dataDir);
    await api?.close();
    await hub?.stop();
    if (dataDir) await removeDir(dataDir);
    if (hub) await removeDir(hub.dataDir);
  });

  it('keeps its watch, heartbeats, status reports and a followed log on one connection', async () => {
    const path = `/apis/outpost.dev/v1alpha1/devices/${DEVICE}`;
    const patched = await api.request('PATCH', path, {
      body: { spec: { heartbeat: { periodSeconds: 1 } } },
      contentType: 'application/merge-patch+json',
    });
    assert.equal(patched.status, 200, patched.text);
    await kubectlApply(hub, workload, placement);
    await waitFor('the workload running', async () => {
      const status = currentStatus(await getMailbox(api, DEVICE), 'Deployment', 'ticker');
      return status?.phase === 'Running' && status.ready;
    });
    const sequence = async () =>
      ((await api.request('GET', path)).json().status?.resources?.outboxSequence as number) ?? 0;
    // Heartbeats at the new period (the agent learns it from its next heartbeat's answer).
    const first = await waitFor(
      'heartbeats a second apart',
      async () => {
        const start = await sequence();
        await new Promise((resolve) => setTimeout(resolve, 1500));
        return (await sequence()) > start ? start : undefined;
      },
      40_000,
    );

    // A followed log: the agent streams its answer up on a long request of its own.
    let followed = '';
    follower = spawn(
      process.execPath,
      [OUTPOST_BIN, 'logs', DEVICE, 'ticker', '-n', NS, '-f', '--kubeconfig', hub.kubeconfig],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    follower.stdout!.on('data', (chunk: Buffer) => {
      followed += chunk.toString();
    });
    await waitFor('the log followed', () => (followed.match(/tick \d+\n/g) ?? []).length >= 3);

    const seen = new Set<number>();
    const startLines = followed.length;
    for (let sample = 0; sample < 10; sample++) {
      const { agentPorts, atHub } = connections();
      assert.equal(agentPorts.length, 1, `the agent's connections to the hub: ${agentPorts}`);
      assert.deepEqual(atHub, agentPorts, 'the hub sees the same one connection from the agent');
      seen.add(agentPorts[0]!);
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    assert.equal(seen.size, 1, 'the same connection throughout');
    // Everything went on meanwhile: heartbeats and the followed log.
    assert.ok((await sequence()) >= first + 3, 'heartbeats flowed');
    assert.ok(followed.length > startLines, 'the log streamed');
    follower.kill('SIGINT');
  });

  it('is cut off when its Device is deleted: the connection destroyed, then 401 on a new one', async () => {
    const [before] = connections().agentPorts;
    assert.ok(before !== undefined);
    const logged = agent.stderr().length;
    // Read now: told it was decommissioned, the agent deletes its credentials and stops.
    const credentials = (await loadCredentials(dataDir))!;
    const deleted = await kubectl(hub, ['delete', 'device', DEVICE]);
    assert.equal(deleted.code, 0, deleted.stderr);
    await waitFor('the old connection gone on both sides', () => {
      const hubSide = tcpConnections(hub.process.pid!).filter(
        (c) => c.local === hubPort && c.remote === before,
      );
      return !connections().agentPorts.includes(before) && hubSide.length === 0;
    });
    // Its watch broke and it retries with backoff, on a new connection.
    await waitFor('the agent to notice', () =>
      agent
        .stderr()
        .slice(logged)
        .split('\n')
        .some((line) => line.includes('"component":"sync"') && line.includes('hub unreachable')),
    );
    // A new connection gets 401 saying why (the agent, told the same, stops for good: agent-sandbox).
    const device = new HubApi(credentials);
    try {
      await assert.rejects(device.request('GET', `/apis/outpost.dev/v1alpha1/devices/${DEVICE}`), {
        name: 'DeviceDecommissionedError',
        statusCode: 401,
      });
    } finally {
      await device.close();
    }
  });
});
