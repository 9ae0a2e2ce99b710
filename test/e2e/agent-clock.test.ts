/**
 * The agent with a wall clock that jumps a day forward, then a day back,
 * while it runs: `outpost agent` under libfaketime (Debian's `faketime`
 * package), its offset read from a file the test rewrites. Heartbeats keep
 * their rhythm, a killed workload is restarted after the usual backoff, and
 * certificate renewal (a hub issuing 30 s certificates) keeps its schedule.
 *
 * libfaketime fakes CLOCK_MONOTONIC as well by default, unlike a real clock
 * jump (settimeofday, NTP), which leaves the monotonic clock alone:
 * `FAKETIME_DONT_FAKE_MONOTONIC=1` makes it fake only the wall clock (Date,
 * time(), OpenSSL's certificate checks), as on a device.
 *
 * The hub's own certificates must be valid for a device a day behind, so
 * its PKI is made by a first start two days in the past; hubs in the field
 * are older than that anyway.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type AgentProcess,
  type ApiClient,
  apiClient,
  createToken,
  type HubProcess,
  isAlive,
  killWorkloads,
  kubectl,
  kubectlApply,
  placementOf,
  recordedProcesses,
  removeDir,
  startAgent,
  startHubProcess,
  tempDir,
  waitFor,
} from '../support/index.ts';

const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
const NS = 'clock-e2e';
const DEVICE = 'gw-clock';
const DAY_MS = 24 * 3600 * 1000;
const DEVICE_PATH = `/apis/outpost.dev/v1alpha1/devices/${DEVICE}`;

/** The environment that runs a process on a wall clock shifted as `specFile` says (re-read every second). */
function fakeClock(specFile: string): NodeJS.ProcessEnv {
  return {
    LD_PRELOAD: LIBFAKETIME,
    FAKETIME_TIMESTAMP_FILE: specFile,
    FAKETIME_CACHE_DURATION: '1',
    FAKETIME_DONT_FAKE_MONOTONIC: '1',
  };
}

const workload = {
  apiVersion: 'outpost.dev/v1alpha1',
  kind: 'Workload',
  metadata: { name: 'sleeper', namespace: NS, labels: { app: 'sleeper' } },
  spec: {
    resources: [
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'sleeper' },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [{ name: 'main', image: 'localhost/busybox:latest', command: ['sleep', '3600'] }],
        },
      },
    ],
  },
};

const placement = placementOf(NS, 'clock-devices', { app: 'sleeper', site: 'clock' });

describe('agent with a wall clock jumping a day', { timeout: 300_000 }, () => {
  let hub: HubProcess;
  let api: ApiClient;
  let agent: AgentProcess;
  let dataDir: string;
  let clockDir: string;
  let specFile: string;
  /** When (the test's monotonic ms) each `certificate renewed` line of the agent arrived. */
  const renewals: number[] = [];

  const device = async () => (await api.request('GET', DEVICE_PATH)).json();
  /** The agent's wall clock minus the test's, as its last heartbeat shows (ms). */
  const agentSkew = async () => {
    const stamp = (await device()).status?.lastHeartbeatTime as string | undefined;
    return stamp ? Date.parse(stamp) - Date.now() : undefined;
  };

  before(async () => {
    assert.ok(existsSync(LIBFAKETIME), `${LIBFAKETIME} missing: run scripts/setup-system.sh`);
    clockDir = await tempDir('outpost-clock-');
    specFile = join(clockDir, 'faketime');
    // A first start two days ago makes the hub's CA and serving certificate; the real start reuses them.
    await writeFile(specFile, '-2d\n');
    const old = await startHubProcess({ env: fakeClock(specFile) });
    await old.stop();
    hub = await startHubProcess({ dataDir: old.dataDir, args: ['--device-cert-lifetime', '30s'] });
    api = apiClient(hub.kubeconfig);
    const ns = await kubectl(hub, ['create', 'namespace', NS]);
    assert.equal(ns.code, 0, ns.stderr);
    await kubectlApply(hub, workload, placement);
    await writeFile(specFile, '+0\n');
    dataDir = await tempDir('outpost-agent-clock-');
    const token = await createToken(hub, ['--labels', 'site=clock']);
    agent = await startAgent({ hubUrl: hub.url, token, dataDir, name: DEVICE, env: fakeClock(specFile) });
    agent.process.stderr!.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n'))
        if (line.includes('"certificate renewed"')) renewals.push(performance.now());
    });
    const patched = await api.request('PATCH', DEVICE_PATH, {
      body: { spec: { heartbeat: { periodSeconds: 1 } } },
      contentType: 'application/merge-patch+json',
    });
    assert.equal(patched.status, 200, patched.text);
    await waitFor('the workload running', () => recordedProcesses(dataDir).some((p) => isAlive(p.pid)));
    // The agent takes the new period from the hub's answer to a heartbeat of the old one (15 s).
    await waitFor('heartbeats a second apart', async () => (await heartbeatsIn(2500)) >= 2, 40_000, 0);
  });

  after(async () => {
    await agent?.stop();
    if (dataDir) killWorkloads(dataDir);
    await api?.close();
    await hub?.stop();
    for (const dir of [dataDir, clockDir, hub?.dataDir]) if (dir) await removeDir(dir);
  });

  /** Heartbeats the hub receives in `windowMs`: distinct `lastHeartbeatTime`s seen polling every 100 ms. */
  async function heartbeatsIn(windowMs: number): Promise<number> {
    const seen = new Set<string>();
    const first = (await device()).status?.lastHeartbeatTime;
    const end = performance.now() + windowMs;
    while (performance.now() < end) {
      const stamp = (await device()).status?.lastHeartbeatTime as string | undefined;
      if (stamp && stamp !== first) seen.add(stamp);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return seen.size;
  }

  /** Kills the workload's process and returns how long (ms) until its replacement ran. */
  async function restartDelay(): Promise<number> {
    const [victim] = recordedProcesses(dataDir);
    assert.ok(victim && isAlive(victim.pid), 'the workload runs');
    const killed = performance.now();
    process.kill(-victim.pid, 'SIGKILL');
    await waitFor(
      'the workload restarted',
      () => recordedProcesses(dataDir).some((p) => p.pid !== victim.pid && isAlive(p.pid)),
      15_000,
      20,
    );
    const ms = performance.now() - killed;
    // No restart storm: still the one replacement a while later.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const now = recordedProcesses(dataDir);
    assert.equal(now.length, 1);
    assert.ok(now[0]!.pid !== victim.pid && isAlive(now[0]!.pid));
    return ms;
  }

  /** Waits for two renewals after `since` and returns the interval between them (s). */
  async function renewalInterval(since: number): Promise<number> {
    const after = () => renewals.filter((at) => at > since);
    await waitFor('two certificate renewals', () => after().length >= 2, 60_000, 200);
    const [a, b] = after();
    return (b! - a!) / 1000;
  }

  for (const [offset, skewMs] of [
    ['+0', 0],
    ['+1d', DAY_MS],
    ['-1d', -DAY_MS],
  ] as const) {
    it(`keeps heartbeats, restarts and renewals on time with the clock at ${offset}`, async () => {
      const jumped = performance.now();
      await writeFile(specFile, `${offset}\n`);
      await waitFor(
        `the agent's clock at ${offset}`,
        async () => {
          const skew = await agentSkew();
          return skew !== undefined && Math.abs(skew - skewMs) < 60_000;
        },
        30_000,
        200,
      );
      const [beats, restart, interval] = await Promise.all([
        heartbeatsIn(6000),
        restartDelay(),
        renewalInterval(jumped),
      ]);
      // One heartbeat a second (the machine is shared: allow some slack, but no burst and no stall).
      assert.ok(beats >= 4 && beats <= 8, `${beats} heartbeats in 6 s`);
      // --restart-backoff 200: the first restarts come within a few hundred ms, growing per restart.
      assert.ok(restart < 5000, `restarted after ${Math.round(restart)} ms`);
      // 30 s certificates, backdated 15 s: due at 2/3 of 45 s from notBefore, i.e. 15 s after issue.
      assert.ok(interval > 10 && interval < 25, `renewals ${interval.toFixed(1)} s apart`);
      assert.equal((await device()).metadata.labels?.site, 'clock');
    });
  }
});
