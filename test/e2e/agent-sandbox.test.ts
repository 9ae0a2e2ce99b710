/**
 * What a workload of one team can reach on a device run by the process
 * runtime, tried as the attack of issue 14 did it: a hub and an agent
 * process, two teams' Workloads applied with kubectl, and a "snoop" workload
 * of team A that looks for the agent's data dir (its kubeconfig and key), for
 * team B's Secret by path, and for the agent by walking /proc, then prints
 * what it found; the test reads it back with `outpost logs`, as the attacker
 * did. Nothing may leak, while the snoop still reads its own Secret.
 *
 * And a decommissioned device: `kubectl delete device` makes the agent say
 * so in one log line, stop and remove its workloads, delete its credentials
 * and exit non-zero; started again it says the device was decommissioned.
 * A hub restart before that is not mistaken for it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type AgentProcess,
  apiClient,
  assertNothingLeaked,
  createToken,
  currentStatus,
  getMailbox,
  type HubProcess,
  isAlive,
  killWorkloads,
  kubectl,
  kubectlApply,
  OUTPOST_BIN,
  placementOf,
  recordedProcesses,
  removeDir,
  run,
  SNOOP,
  startAgent,
  startHubProcess,
  teamWorkload,
  tempDir,
  waitFor,
} from '../support/index.ts';

const DEVICE = 'gw-sandbox-1';
const SITE = 'sandbox';

describe('a process workload cannot reach the agent or another unit', { timeout: 300_000 }, () => {
  let hub: HubProcess;
  let agent: AgentProcess;
  let dataDir: string;
  const secretA = `A-${randomBytes(8).toString('hex')}`;
  const secretB = `B-${randomBytes(8).toString('hex')}`;
  const unitOf = (name: string) => recordedProcesses(dataDir).find((p) => p.unit.includes(`-pod-${name}-`));
  const logs = (name: string, namespace: string) =>
    run(
      process.execPath,
      [OUTPOST_BIN, 'logs', DEVICE, name, '-n', namespace, '--kubeconfig', hub.kubeconfig],
      {
        timeoutMs: 60_000,
      },
    );

  before(async () => {
    hub = await startHubProcess();
    dataDir = await tempDir('outpost-agent-sandbox-');
    const token = await createToken(hub, ['--labels', `site=${SITE}`]);
    agent = await startAgent({ hubUrl: hub.url, token, dataDir, name: DEVICE });
    for (const ns of ['team-a', 'team-b'])
      assert.equal((await kubectl(hub, ['create', 'namespace', ns])).code, 0);
  });

  after(async () => {
    await agent?.stop();
    if (dataDir) killWorkloads(dataDir);
    await hub?.stop();
    if (dataDir) await removeDir(dataDir);
    if (hub) await removeDir(hub.dataDir);
  });

  it('keeps the data dir 0700 and the credentials 0600', () => {
    assert.equal(statSync(dataDir).mode & 0o777, 0o700);
    assert.equal(statSync(join(dataDir, 'kubeconfig')).mode & 0o777, 0o600);
  });

  it("lets team A's workload read neither the agent's key and kubeconfig nor team B's Secret, by path or through /proc", async () => {
    await kubectlApply(
      hub,
      teamWorkload(
        'team-b',
        'vault',
        secretB,
        'echo "own=$(cat /etc/own/token)"; echo "snoop done"; exec sleep 3600',
      ),
      placementOf('team-b', 'vault', { app: 'vault', site: SITE }),
    );
    await waitFor('team B running', () => unitOf('vault'));
    const bSecretFile = join(dataDir, 'process', 'units', unitOf('vault')!.unit, 'volumes', 'own', 'token');
    await kubectlApply(
      hub,
      teamWorkload('team-a', 'snoop', secretA, SNOOP, { DATA_DIR: dataDir, B_SECRET_FILE: bSecretFile }),
      placementOf('team-a', 'snoop', { app: 'snoop', site: SITE }),
    );
    const output = await waitFor('the snoop done, read back with outpost logs', async () => {
      const result = await logs('snoop', 'team-a');
      return result.code === 0 && result.stdout.includes('snoop done') ? result.stdout : undefined;
    });
    assertNothingLeaked(output, secretA, [secretB]);
    assert.doesNotMatch(output, /^uid=0$/m, 'not root');
    // Its own pid namespace: the snoop sees its sandbox's processes only, never the agent or team B.
    const seen = output.split('\n').filter((line) => line.startsWith('saw '));
    assert.ok(seen.length > 0 && seen.length <= 5, output);
    // Team B reads its own Secret: the boundary is between units, not in front of their own files.
    const vault = await logs('vault', 'team-b');
    assert.ok(vault.stdout.includes(`own=${secretB}`), vault.stdout + vault.stderr);
    // The two units run as two different unprivileged uids.
    const owners = ['snoop', 'vault'].map(
      (name) =>
        statSync(join(dataDir, 'process', 'units', unitOf(name)!.unit, 'volumes', 'own', 'token')).uid,
    );
    assert.ok(owners.every((uid) => uid !== 0) && owners[0] !== owners[1], String(owners));
  });
});

describe('a decommissioned device knows it', { timeout: 300_000 }, () => {
  let hub: HubProcess;
  let agent: AgentProcess;
  let dataDir: string;
  let hubDir: string;
  let listen: string;
  const NS = 'decommission';
  const name = 'gw-decommission-1';

  before(async () => {
    hub = await startHubProcess();
    hubDir = hub.dataDir;
    listen = new URL(hub.url).host;
    dataDir = await tempDir('outpost-agent-decommission-');
    const token = await createToken(hub, ['--labels', 'site=decommission']);
    agent = await startAgent({ hubUrl: hub.url, token, dataDir, name });
    assert.equal((await kubectl(hub, ['create', 'namespace', NS])).code, 0);
  });

  after(async () => {
    await agent?.stop();
    if (dataDir) killWorkloads(dataDir);
    await hub?.stop();
    if (dataDir) await removeDir(dataDir);
    if (hubDir) await removeDir(hubDir);
  });

  it('keeps running through a hub restart', async () => {
    await kubectlApply(
      hub,
      teamWorkload(NS, 'steady', 'unused', 'exec sleep 3600'),
      placementOf(NS, 'steady', { app: 'steady', site: 'decommission' }),
    );
    const api = apiClient(hub.kubeconfig);
    await waitFor('the workload running', async () => {
      const status = currentStatus(await getMailbox(api, name), 'Pod', 'steady');
      return status?.phase === 'Running';
    });
    await api.close();
    await hub.stop();
    hub = await startHubProcess({ dataDir: hubDir, args: ['--listen', listen] });
    await waitFor('the agent reconnected', () =>
      (agent.stderr().match(/connected to hub/g) ?? []).length >= 2 ? true : undefined,
    );
    assert.equal(agent.process.exitCode, null, agent.stderr());
    assert.ok(existsSync(join(dataDir, 'kubeconfig')));
    assert.doesNotMatch(agent.stderr(), /decommissioned/);
  });

  it('stops its workloads, deletes its credentials and exits non-zero when its Device is deleted', async () => {
    const workloads = recordedProcesses(dataDir);
    assert.ok(workloads.length > 0);
    const exited = new Promise<number | null>((resolve) => {
      if (agent.process.exitCode !== null) resolve(agent.process.exitCode);
      else agent.process.once('exit', (code) => resolve(code));
    });
    const deleted = await kubectl(hub, ['delete', 'device', name]);
    assert.equal(deleted.code, 0, deleted.stderr);
    const code = await exited;
    assert.notEqual(code, 0);
    const lines = agent
      .stderr()
      .split('\n')
      .filter((line) => line.includes('device decommissioned by the hub'));
    assert.equal(lines.length, 1, agent.stderr());
    assert.match(agent.stderr(), /outpost: device gw-decommission-1 was decommissioned/);
    for (const { pid } of workloads) assert.equal(isAlive(pid), false, `workload ${pid} stopped`);
    assert.deepEqual(recordedProcesses(dataDir), [], 'workloads removed');
    for (const file of ['kubeconfig', 'enrollment.key', 'mailbox.json'])
      assert.equal(existsSync(join(dataDir, file)), false, `${file} removed`);
  });

  it('says the device was decommissioned, and how to enroll again, when started again', async () => {
    await assert.rejects(startAgent({ hubUrl: hub.url, dataDir, name }), (error: Error) =>
      /device gw-decommission-1 was decommissioned at .*to enroll again, start the agent with --token and a new bootstrap token, or remove/.test(
        error.message,
      ),
    );
  });
});
