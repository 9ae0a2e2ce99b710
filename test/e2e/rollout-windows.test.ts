/**
 * Rollout update windows and undo end to end: an `outpost hub` process and
 * two `outpost agent` processes (process runtime). `win-1` runs under
 * libfaketime (its wall clock only, as in cron-workloads) and takes, by its
 * `outpost.dev/update-window=night` label, the Placement's window `night`,
 * which opens at the top of an hour two hours away (the Placement's default
 * window is always open); `win-2` has a window of its own in its Device spec
 * that is always open. A
 * new revision runs on win-2 at once and waits on win-1, its first version
 * still running, past the progress deadline without counting as failed,
 * until win-1's clock jumps into its window. `outpost rollout undo` then
 * brings the first version back as a new revision. What runs is read from
 * the workload processes themselves (their pid and output, recorded by the
 * process runtime), not from any status.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
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
  OUTPOST_BIN,
  recordedProcesses,
  removeDir,
  run,
  startAgent,
  startHubProcess,
  tempDir,
  waitFor,
} from '../support/index.ts';

const NS = 'rollout-windows';
const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
const WAIT = 120_000;
const HOUR = 3_600_000;

describe('rollout update windows and undo with real agents', { timeout: 600_000 }, () => {
  let hub: HubProcess;
  let api: ApiClient;
  const agents: AgentProcess[] = [];
  const dirs: string[] = [];
  const agentDirs = new Map<string, string>();
  let clockFile: string;
  /** The window opens at this UTC hour, one to two hours from now. */
  const opening = new Date(Math.ceil((Date.now() + HOUR) / HOUR) * HOUR);

  const workload = (version: string) => ({
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Workload',
    metadata: { name: 'app', namespace: NS, labels: { app: 'windowed' } },
    spec: {
      resources: [
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'app' },
          spec: {
            terminationGracePeriodSeconds: 1,
            containers: [
              {
                name: 'main',
                image: 'localhost/busybox:latest',
                command: ['sh', '-c', `echo ${version}; exec sleep 3600`],
              },
            ],
          },
        },
      ],
    },
  });
  const placement = () => ({
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Placement',
    metadata: { name: 'windowed', namespace: NS },
    spec: {
      workloadSelector: { matchLabels: { app: 'windowed' } },
      deviceSelector: { matchLabels: { window: 'e2e' } },
      rollout: {
        strategy: 'AllAtOnce',
        progressDeadlineSeconds: 10,
        updateWindow: { schedule: `0 ${opening.getUTCHours()} * * *`, duration: '1h', timeZone: 'UTC' },
        updateWindows: [
          { name: 'night', schedule: `0 ${opening.getUTCHours()} * * *`, duration: '1h', timeZone: 'UTC' },
        ],
      },
    },
  });
  /** What the device's workload process prints last (the version it started as) and its pid. */
  const runs = (device: string): { version?: string; pid?: number } => {
    const dir = agentDirs.get(device)!;
    const [found] = recordedProcesses(dir).filter((p) => p.container === 'main');
    if (!found || !isAlive(found.pid)) return {};
    let text = '';
    try {
      text = readFileSync(found.logPath, 'utf8');
    } catch {
      return {};
    }
    return { version: text.trim().split('\n').at(-1), pid: found.pid };
  };
  const running = (device: string, version: string) =>
    waitFor(
      `${device} running ${version}`,
      async () => (runs(device).version === version ? runs(device) : undefined),
      WAIT,
      500,
    );
  const rollout = async () =>
    (
      (
        await api.request('GET', `/apis/outpost.dev/v1alpha1/namespaces/${NS}/placements/windowed`)
      ).json() as {
        status?: {
          rollout?: {
            phase: string;
            updateRevision: number;
            failure?: unknown;
            unknownUpdateWindows?: unknown;
          };
        };
      }
    ).status?.rollout;
  const objectStatus = async (device: string) =>
    (
      (await api.request('GET', `/apis/outpost.dev/v1alpha1/mailboxes/${device}`)).json() as {
        status?: { objects?: Array<{ phase: string; reason?: string; message?: string }> };
      }
    ).status?.objects?.[0];
  const cli = (...args: string[]) =>
    run(process.execPath, [
      OUTPOST_BIN,
      'rollout',
      ...args,
      'windowed',
      '-n',
      NS,
      '--kubeconfig',
      hub.kubeconfig,
    ]);

  before(async () => {
    assert.ok(existsSync(LIBFAKETIME), `${LIBFAKETIME} missing: run scripts/setup-system.sh`);
    hub = await startHubProcess();
    api = apiClient(hub.kubeconfig);
    const clockDir = await tempDir('outpost-windows-clock-');
    dirs.push(clockDir);
    clockFile = join(clockDir, 'faketime');
    await writeFile(clockFile, '+0\n');
    assert.equal((await kubectl(hub, ['create', 'namespace', NS])).code, 0);
    for (const name of ['win-1', 'win-2']) {
      const dataDir = await tempDir(`outpost-${name}-`);
      dirs.push(dataDir);
      agentDirs.set(name, dataDir);
      const token = await createToken(hub, ['--labels', 'window=e2e']);
      agents.push(
        await startAgent({
          hubUrl: hub.url,
          token,
          dataDir,
          name,
          args: ['--stop-workloads-on-exit', '--metrics-port', 'off'],
          ...(name === 'win-1'
            ? {
                env: {
                  LD_PRELOAD: LIBFAKETIME,
                  FAKETIME_TIMESTAMP_FILE: clockFile,
                  FAKETIME_CACHE_DURATION: '1',
                  FAKETIME_DONT_FAKE_MONOTONIC: '1',
                },
              }
            : {}),
        }),
      );
    }
  });

  after(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    for (const dir of dirs) killWorkloads(dir);
    await api?.close();
    await hub?.stop();
    for (const dir of dirs) await removeDir(dir);
    if (hub) await removeDir(hub.dataDir);
  });

  it('refuses a window that never opens and a budget with both bounds, with 422 and the field path', async () => {
    const bad = placement();
    bad.metadata.name = 'bad';
    bad.spec.rollout.updateWindow.schedule = '0 0 30 2 *';
    const never = await kubectl(hub, ['create', '-f', '-'], JSON.stringify(bad));
    assert.notEqual(never.code, 0);
    assert.match(never.stderr, /spec\.rollout\.updateWindow\.schedule: Invalid value: "0 0 30 2 \*"/);
    const budget = placement();
    budget.metadata.name = 'bad';
    Object.assign(budget.spec.rollout, {
      disruptionBudget: { groupBy: ['site'], maxUnavailable: 1, minAvailable: 1 },
    });
    const both = await kubectl(hub, ['create', '-f', '-'], JSON.stringify(budget));
    assert.notEqual(both.code, 0);
    assert.match(both.stderr, /spec\.rollout\.disruptionBudget\.minAvailable: Forbidden/);
    const named = placement();
    named.metadata.name = 'bad';
    named.spec.rollout.updateWindows = [
      { name: 'night', schedule: '0 2 * * *', duration: '1h', timeZone: 'UTC' },
      { name: 'night', schedule: '0 0 30 2 *', duration: '1h', timeZone: 'UTC' },
    ];
    const twice = await kubectl(hub, ['create', '-f', '-'], JSON.stringify(named));
    assert.notEqual(twice.code, 0);
    assert.match(twice.stderr, /spec\.rollout\.updateWindows\[1\]\.schedule: Invalid value: "0 0 30 2 \*"/);
    assert.match(twice.stderr, /spec\.rollout\.updateWindows\[1\]\.name: Duplicate value: "night"/);
    const device = await kubectl(hub, [
      'patch',
      'device',
      'win-2',
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { updateWindow: { schedule: '0 * * * *', duration: 'soon' } } }),
    ]);
    assert.notEqual(device.code, 0);
    assert.match(device.stderr, /spec\.updateWindow\.duration: Invalid value: "soon"/);
    assert.notEqual((await kubectl(hub, ['get', 'placement', 'bad', '-n', NS])).code, 0, 'nothing created');
  });

  it("applies a new revision on a device only inside its window, the device's own window first", async () => {
    // win-2's own window: every hour, for an hour, so always open.
    const own = await kubectl(hub, [
      'patch',
      'device',
      'win-2',
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { updateWindow: { schedule: '0 * * * *', duration: '1h' } } }),
    ]);
    assert.equal(own.code, 0, own.stderr);
    // win-1 takes the Placement's window `night` by its label; the Placement's default is always open.
    const label = await kubectl(hub, ['label', 'device', 'win-1', 'outpost.dev/update-window=night']);
    assert.equal(label.code, 0, label.stderr);
    const always = placement();
    always.spec.rollout.updateWindow = { schedule: '0 * * * *', duration: '1h', timeZone: 'UTC' };
    // A first version starts at once everywhere: the window guards replacements only.
    await kubectlApply(hub, workload('v1'), always);
    const first = await running('win-1', 'v1');
    await running('win-2', 'v1');
    await waitFor('revision 1 complete', async () => (await rollout())?.phase === 'Complete', WAIT, 500);
    await kubectlApply(hub, workload('v2'));
    await running('win-2', 'v2');
    const waiting = await waitFor(
      'win-1 waiting for its window',
      async () => {
        const status = await objectStatus('win-1');
        return status?.reason === 'WaitingForUpdateWindow' ? status : undefined;
      },
      WAIT,
      500,
    );
    assert.equal(waiting.message, `the update window opens at ${opening.toISOString()}`);
    // Past the progress deadline (10 s): waiting is no failure, and v1 keeps running on win-1.
    await new Promise((resolve) => setTimeout(resolve, 20_000));
    const r = await rollout();
    assert.equal(r?.phase, 'Progressing');
    assert.equal(r?.failure, undefined);
    assert.deepEqual(runs('win-1'), first, 'the first process of v1 still runs on win-1');
    assert.equal((await objectStatus('win-1'))?.reason, 'WaitingForUpdateWindow');
    // win-1's clock jumps to 30 s into its window.
    await writeFile(clockFile, `+${Math.ceil((opening.getTime() - Date.now()) / 1000) + 30}\n`);
    await running('win-1', 'v2');
    await waitFor('revision 2 complete', async () => (await rollout())?.phase === 'Complete', WAIT, 500);
  });

  it('names the devices whose update-window label names no window of the Placement', async () => {
    const label = await kubectl(hub, [
      'label',
      '--overwrite',
      'device',
      'win-1',
      'outpost.dev/update-window=nope',
    ]);
    assert.equal(label.code, 0, label.stderr);
    const unknown = await waitFor(
      'unknownUpdateWindows in status',
      async () => (await rollout())?.unknownUpdateWindows,
      WAIT,
      500,
    );
    assert.deepEqual(unknown, [{ name: 'nope', devices: 1, examples: ['win-1'] }]);
    const events = await kubectl(hub, ['get', 'events', '-n', NS]);
    assert.match(
      events.stdout,
      /name update window "nope", which spec\.rollout\.updateWindows does not define/,
    );
    const back = await kubectl(hub, [
      'label',
      '--overwrite',
      'device',
      'win-1',
      'outpost.dev/update-window=night',
    ]);
    assert.equal(back.code, 0, back.stderr);
    await waitFor(
      'no unknown windows',
      async () => (await rollout())?.unknownUpdateWindows === undefined,
      WAIT,
      500,
    );
  });

  it('brings an earlier revision back as a new one with outpost rollout undo', async () => {
    const undo = await cli('undo');
    assert.equal(undo.code, 0, undo.stderr);
    assert.match(undo.stdout, /workloads of revision 1 written back/);
    await running('win-1', 'v1');
    await running('win-2', 'v1');
    await waitFor(
      'revision 3 complete',
      async () => {
        const r = await rollout();
        return r?.phase === 'Complete' && r.updateRevision === 3;
      },
      WAIT,
      500,
    );
    const history = await cli('history');
    assert.match(history.stdout, /\n3\s/);
  });

  it("shows the rollout's progress on the hub's /metrics", async () => {
    const { text } = await api.request('GET', '/metrics');
    const series = `namespace="${NS}",placement="windowed"`;
    assert.match(text, new RegExp(`outpost_rollout_phase\\{${series},phase="Complete"\\} 1\\n`));
    assert.match(text, new RegExp(`outpost_rollout_phase\\{${series},phase="RolledBack"\\} 0\\n`));
    assert.match(text, new RegExp(`outpost_rollout_revision\\{${series},kind="update"\\} 3\\n`));
    assert.match(text, new RegExp(`outpost_rollout_devices\\{${series},state="updated"\\} 2\\n`));
    assert.match(text, new RegExp(`outpost_rollout_devices\\{${series},state="failed"\\} 0\\n`));
  });
});
