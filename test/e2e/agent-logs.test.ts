/**
 * `outpost logs` end to end: an `outpost hub` process, an `outpost agent`
 * process with the process runtime, and a Workload whose container prints
 * lines. The hub never connects to the device: the agent long-polls for log
 * requests and uploads the output on its own mTLS connection.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadCredentials } from '../../src/agent/enrollment/index.ts';
import {
  type AgentProcess,
  type ApiClient,
  apiClient,
  createToken,
  currentStatus,
  getMailbox,
  type HubProcess,
  hubRequest,
  killWorkloads,
  kubectl,
  kubectlApply,
  OUTPOST_BIN,
  outpost,
  placementOf,
  recordedProcesses,
  removeDir,
  run,
  startAgent,
  startHubProcess,
  tempDir,
  waitFor,
} from '../support/index.ts';

const NS = 'logs-e2e';
const DEVICE = 'gw-logs-1';

function printer(trigger: string) {
  return {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Workload',
    metadata: { name: 'printer', namespace: NS, labels: { app: 'printer' } },
    spec: {
      resources: [
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'printer' },
          spec: {
            terminationGracePeriodSeconds: 1,
            containers: [
              {
                name: 'main',
                image: 'localhost/busybox:latest',
                // Five lines at once; one more when the test creates the trigger file.
                command: [
                  'sh',
                  '-c',
                  'for i in 1 2 3 4 5; do echo "line $i"; done; while [ ! -e "$TRIGGER" ]; do sleep 0.1; done; echo "late line"; exec sleep 3600',
                ],
                env: [{ name: 'TRIGGER', value: trigger }],
                // The workload sees only what it declares: the test's scratch folder, where the trigger appears.
                volumeMounts: [{ name: 'scratch', mountPath: dirname(trigger), readOnly: true }],
              },
            ],
            volumes: [{ name: 'scratch', hostPath: { path: dirname(trigger) } }],
          },
        },
      ],
    },
  };
}

const placement = placementOf(NS, 'logs-devices', { app: 'printer', site: 'logs-e2e' });

describe('outpost logs through the hub', { timeout: 240_000 }, () => {
  let hub: HubProcess;
  let agent: AgentProcess;
  let api: ApiClient;
  let dataDir: string;
  let scratch: string;
  const followers: ChildProcess[] = [];

  const logs = (args: readonly string[], kubeconfig = hub.kubeconfig) =>
    run(process.execPath, [OUTPOST_BIN, 'logs', ...args, '--kubeconfig', kubeconfig], { timeoutMs: 60_000 });

  before(async () => {
    hub = await startHubProcess();
    api = apiClient(hub.kubeconfig);
    dataDir = await tempDir('outpost-agent-logs-');
    scratch = await tempDir('outpost-logs-scratch-');
    await chmod(scratch, 0o755); // the workload runs as its own unprivileged uid
    const token = await createToken(hub, ['--labels', 'site=logs-e2e']);
    agent = await startAgent({ hubUrl: hub.url, token, dataDir, name: DEVICE });
    const ns = await kubectl(hub, ['create', 'namespace', NS]);
    assert.equal(ns.code, 0, ns.stderr);
    // hostPath volumes need the privileged Pod Security level.
    const label = await kubectl(hub, [
      'label',
      'namespace',
      NS,
      'pod-security.kubernetes.io/enforce=privileged',
    ]);
    assert.equal(label.code, 0, label.stderr);
    await kubectlApply(hub, printer(join(scratch, 'trigger')), placement);
    await waitFor('the printer running', async () => {
      const status = currentStatus(await getMailbox(api, DEVICE), 'Pod', 'printer');
      return status?.phase === 'Running';
    });
    await waitFor('five lines printed', () =>
      recordedProcesses(dataDir).some((p) => readFileSync(p.logPath, 'utf8').includes('line 5\n')),
    );
  });

  after(async () => {
    for (const child of followers) child.kill('SIGKILL');
    await agent?.stop();
    if (dataDir) killWorkloads(dataDir);
    await api?.close();
    await hub?.stop();
    if (dataDir) await removeDir(dataDir);
    if (scratch) await removeDir(scratch);
    if (hub) await removeDir(hub.dataDir);
  });

  it("prints the workload's stored output, and only the last lines with --tail", async () => {
    const all = await logs([DEVICE, 'printer', '-n', NS]);
    assert.equal(all.code, 0, all.stderr);
    assert.equal(all.stdout, 'line 1\nline 2\nline 3\nline 4\nline 5\n');
    const tail = await logs([DEVICE, 'printer', '-n', NS, '--tail', '2', '--container', 'main']);
    assert.equal(tail.code, 0, tail.stderr);
    assert.equal(tail.stdout, 'line 4\nline 5\n');
  });

  it('serves several requests at once', async () => {
    const results = await Promise.all(
      [1, 2, 3].map((n) => logs([DEVICE, 'printer', '-n', NS, '--tail', String(n)])),
    );
    assert.deepEqual(
      results.map((r) => [r.code, r.stdout]),
      [
        [0, 'line 5\n'],
        [0, 'line 4\nline 5\n'],
        [0, 'line 3\nline 4\nline 5\n'],
      ],
    );
  });

  it('with -f shows a line as soon as the workload prints it, until interrupted', async () => {
    const child = spawn(
      process.execPath,
      [OUTPOST_BIN, 'logs', DEVICE, 'printer', '-n', NS, '--tail', '1', '-f', '--kubeconfig', hub.kubeconfig],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    followers.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await waitFor(`the stored tail (stderr: ${stderr})`, () => stdout === 'line 5\n');
    await writeFile(join(scratch, 'trigger'), '');
    await waitFor('the new line followed', () => stdout === 'line 5\nlate line\n');
    assert.equal(child.exitCode, null, 'a follow keeps running');
    child.kill('SIGINT');
    await exited;
    // The interrupted follow left the agent serving: the next request is answered.
    const next = await logs([DEVICE, 'printer', '-n', NS, '--tail', '1']);
    assert.equal(next.stdout, 'late line\n', next.stderr);
  });

  it("refuses a device's request for another device's log requests with 403", async () => {
    const credentials = await loadCredentials(dataDir);
    assert.ok(credentials);
    const as = { cert: credentials.certPem, key: credentials.keyPem };
    const poll = await hubRequest(hub, 'GET', '/agent/v1/devices/gw-other/log-requests', as);
    assert.equal(poll.status, 403);
    assert.match(String(poll.body.message), /cannot get path "\/agent\/v1\/devices\/gw-other\/log-requests"/);
    const upload = await hubRequest(hub, 'POST', '/agent/v1/devices/gw-other/log-requests/x', {
      ...as,
      body: 'stolen',
    });
    assert.equal(upload.status, 403);
    // Nor may it read logs the way a person does.
    const asPerson = await hubRequest(
      hub,
      'GET',
      `/apis/outpost.dev/v1alpha1/namespaces/${NS}/workloads/printer/log?device=${DEVICE}`,
      as,
    );
    assert.equal(asPerson.status, 403);
  });

  it('names an unknown workload, an unknown device and a bad --tail clearly', async () => {
    const workload = await logs([DEVICE, 'nope', '-n', NS]);
    assert.equal(workload.code, 1);
    assert.match(workload.stderr, /workloads\.outpost\.dev "nope" not found/);
    const device = await logs(['gw-ghost', 'printer', '-n', NS]);
    assert.equal(device.code, 1);
    assert.match(device.stderr, /devices\.outpost\.dev "gw-ghost" not found/);
    const tail = await logs([DEVICE, 'printer', '-n', NS, '--tail', 'many']);
    assert.equal(tail.code, 1);
    assert.match(tail.stderr, /--tail must be a whole number/);
    const container = await logs([DEVICE, 'printer', '-n', NS, '--container', 'sidecar']);
    assert.equal(container.code, 1);
    assert.match(container.stderr, /no container "sidecar" on device "gw-logs-1"/);
  });

  it("lets a workload team read its namespace's logs and nothing else", async () => {
    const kubeconfig = join(scratch, 'alice.kubeconfig');
    await outpost(hub, ['user', 'create', 'alice', '--group', 'team-logs', '--out', kubeconfig]);
    const bound = await kubectl(hub, [
      'create',
      'rolebinding',
      'team-logs',
      '-n',
      NS,
      '--clusterrole=outpost:workload-team',
      '--group=team-logs',
    ]);
    assert.equal(bound.code, 0, bound.stderr);
    const other = await kubectl(hub, ['create', 'namespace', 'logs-e2e-other']);
    assert.equal(other.code, 0, other.stderr);
    // The aggregated role is filled in by a controller: wait for it.
    const allowed = await waitFor('the team allowed', async () => {
      const result = await logs([DEVICE, 'printer', '-n', NS, '--tail', '1'], kubeconfig);
      return result.code === 0 ? result : undefined;
    });
    assert.equal(allowed.stdout, 'late line\n');
    const refused = await logs([DEVICE, 'printer', '-n', 'logs-e2e-other'], kubeconfig);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /cannot get resource "workloads\/log" in API group "outpost\.dev"/);
  });

  it('answers with a timeout naming the device when its agent does not answer', async () => {
    await agent.stop();
    const started = performance.now();
    const result = await logs([DEVICE, 'printer', '-n', NS]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /device "gw-logs-1" did not answer the log request within 10s/);
    assert.ok(performance.now() - started >= 9_000);
  });
});
