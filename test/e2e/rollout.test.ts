/**
 * Rollouts end to end: an `outpost hub` process and twelve `outpost agent`
 * processes (process runtime) at four sites, a Workload placed in three
 * batches of four devices (the second batch released by `outpost rollout
 * approve`) under a disruption budget of one device per site, driven
 * with kubectl and `outpost rollout`. What the devices hold and run is read
 * from their Mailboxes (spec: the revision the hub gave each; status: what
 * its agent reports), sampled all at once (one list) throughout, so that the
 * order of batches is checked from the agents' reports, not from the
 * Placement's own status. A device offline during a rollback comes back to
 * the good revision only. The budget is checked in every sample as well:
 * never two devices of a site given content their agents do not yet report
 * running and ready.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  type AgentProcess,
  type ApiClient,
  apiClient,
  type HubProcess,
  killWorkloads,
  kubectl,
  kubectlApply,
  OUTPOST_BIN,
  removeDir,
  run,
  startAgent,
  startHubProcess,
  startLabelledAgent,
  tempDir,
  waitFor,
} from '../support/index.ts';

const NS = 'rollout-e2e';
const DEVICES = Array.from({ length: 12 }, (_, i) => `ro-${String(i + 1).padStart(2, '0')}`);
/** Batches in device-name order: limit 4, limit 4 (manual approval), and the implicit rest. */
const BATCHES = [DEVICES.slice(0, 4), DEVICES.slice(4, 8), DEVICES.slice(8)];
/** Sites of three devices for the disruption budget (one device of a site updating at a time). */
const SITE_NAMES = ['north', 'south', 'east', 'west'];
const SITES: Record<string, string> = Object.fromEntries(
  DEVICES.map((d, i) => [d, SITE_NAMES[Math.floor(i / 3)]!]),
);
const WAIT = 180_000;

function workload(command: string) {
  return {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Workload',
    metadata: { name: 'app', namespace: NS, labels: { app: 'rolled' } },
    spec: {
      resources: [
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'app' },
          spec: {
            terminationGracePeriodSeconds: 1,
            containers: [{ name: 'main', image: 'localhost/busybox:latest', command: ['sh', '-c', command] }],
          },
        },
      ],
    },
  };
}
const good = (version: string) => workload(`echo ${version}; exec sleep 3600`);
const broken = workload('echo broken; exit 3');

const placement = {
  apiVersion: 'outpost.dev/v1alpha1',
  kind: 'Placement',
  metadata: { name: 'fleet', namespace: NS },
  spec: {
    workloadSelector: { matchLabels: { app: 'rolled' } },
    deviceSelector: { matchLabels: { rollout: 'e2e' } },
    rollout: {
      strategy: 'Batches',
      batches: [{ limit: 4 }, { limit: 4, approval: 'Manual' }],
      successThreshold: 100,
      errorThreshold: 50,
      progressDeadlineSeconds: 120,
      disruptionBudget: { groupBy: ['site'], maxUnavailable: 1 },
    },
  },
};

interface DeviceView {
  /** The revision of the Placement's objects in the device's Mailbox. */
  revision?: number;
  /** The agent reports the Mailbox's current content (applied or tried). */
  reported: boolean;
  /** The agent reports the Mailbox's current content running and ready. */
  running: boolean;
  reason?: string;
}

interface MailboxItem {
  metadata: { name: string };
  spec?: { objects?: Array<{ hash: string; revision?: number; source: { placement: string } }> };
  status?: { objects?: Array<{ observedHash?: string; phase: string; ready?: boolean; reason?: string }> };
}

/** Every device's Mailbox at one store revision (one list request). */
async function fleetView(api: ApiClient): Promise<Map<string, DeviceView>> {
  const list = (await api.request('GET', '/apis/outpost.dev/v1alpha1/mailboxes')).json() as {
    items: MailboxItem[];
  };
  const view = new Map<string, DeviceView>();
  for (const item of list.items) {
    const entry = item.spec?.objects?.find((o) => o.source.placement === 'fleet');
    const status = item.status?.objects?.[0];
    const current = entry && status?.observedHash === entry.hash ? status : undefined;
    view.set(item.metadata.name, {
      ...(entry?.revision !== undefined ? { revision: entry.revision } : {}),
      reported: current !== undefined,
      running: current?.phase === 'Running' && current.ready !== false,
      ...(current?.reason ? { reason: current.reason } : {}),
    });
  }
  return view;
}

describe('rollouts in batches with real agents', { timeout: 900_000 }, () => {
  let hub: HubProcess;
  let api: ApiClient;
  const agents: AgentProcess[] = [];
  const dirs: string[] = [];
  /** What the sampler saw: per revision, the devices that ever held it; and any batch-order violation. */
  const held = new Map<number, Set<string>>();
  /** Per revision, the devices whose agent reported its content. */
  const reported = new Map<number, Set<string>>();
  const violations: string[] = [];
  /** Samples where a site had more than one device updating (from the agents' reports). */
  const overBudget: string[] = [];
  /** Checked once the first revision runs everywhere (it is no rollout); agents stopped on purpose aside. */
  let budgetChecked = false;
  const stopped = new Set<string>();
  /** The revision each device held at the previous sample. */
  const last = new Map<string, number>();
  let sampling = true;
  let sampler: Promise<void> | undefined;

  const rollout = async () =>
    (
      (await api.request('GET', `/apis/outpost.dev/v1alpha1/namespaces/${NS}/placements/fleet`)).json() as {
        status?: {
          rollout?: Record<string, unknown> & {
            phase: string;
            updateRevision: number;
            currentRevision: number;
          };
        };
      }
    ).status?.rollout;
  const cli = async (...args: string[]) =>
    run(process.execPath, [
      OUTPOST_BIN,
      'rollout',
      ...args,
      'fleet',
      '-n',
      NS,
      '--kubeconfig',
      hub.kubeconfig,
    ]);
  const everyDevice = (revision: number) =>
    waitFor(
      `every device running revision ${revision}`,
      async () => {
        const view = await fleetView(api);
        return DEVICES.every((d) => view.get(d)?.revision === revision && view.get(d)?.running)
          ? view
          : undefined;
      },
      WAIT,
      500,
    );

  before(async () => {
    hub = await startHubProcess();
    api = apiClient(hub.kubeconfig);
    const ns = await kubectl(hub, ['create', 'namespace', NS]);
    assert.equal(ns.code, 0, ns.stderr);
    // Three agents start at once: a start mostly waits (token, enrollment, first sync). Side by side
    // on a busy machine, this file's hooks took under 290 s so, the twelve starts one after another
    // over 500 s.
    dirs.push(...(await Promise.all(DEVICES.map(() => tempDir('outpost-rollout-')))));
    const startOne = (name: string) =>
      startLabelledAgent(hub, {
        name,
        labels: `rollout=e2e,device=${name},site=${SITES[name]}`,
        dataDir: dirs[DEVICES.indexOf(name)]!,
      });
    for (let first = 0; first < DEVICES.length; first += 3)
      agents.push(...(await Promise.all(DEVICES.slice(first, first + 3).map(startOne))));
    sampler = (async () => {
      while (sampling) {
        try {
          const view = await fleetView(api);
          for (const [device, state] of view) {
            if (state.revision === undefined) continue;
            const set = held.get(state.revision) ?? new Set();
            set.add(device);
            held.set(state.revision, set);
            if (state.reported) {
              const seen = reported.get(state.revision) ?? new Set();
              seen.add(device);
              reported.set(state.revision, seen);
            }
          }
          // A device of a later batch moves up to a revision only once every device of the batch before
          // runs it (the agents' reports in the same list).
          for (let b = 1; b < BATCHES.length; b++) {
            for (const device of BATCHES[b]!) {
              const revision = view.get(device)?.revision;
              const previous = last.get(device);
              if (revision === undefined || previous === undefined || revision <= previous) continue;
              const behind = BATCHES[b - 1]!.filter(
                (d) => view.get(d)?.revision !== revision || !view.get(d)?.running,
              );
              if (behind.length > 0)
                violations.push(
                  `${device} got revision ${revision} while ${behind.join(',')} did not run it`,
                );
            }
          }
          for (const [device, state] of view)
            if (state.revision !== undefined) last.set(device, state.revision);
          // Unavailable: given content its agent does not (yet) report running and ready.
          if (budgetChecked) {
            const updating = new Map<string, string[]>();
            for (const [device, state] of view) {
              if (state.revision === undefined || state.running || stopped.has(device)) continue;
              const site = SITES[device]!;
              updating.set(site, [...(updating.get(site) ?? []), device]);
            }
            for (const [site, devices] of updating)
              if (devices.length > 1) overBudget.push(`${site}: ${devices.join(',')} updating at once`);
          }
        } catch {
          // The hub may be busy: the next sample counts.
        }
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    })();
  });

  after(async () => {
    sampling = false;
    await sampler;
    await Promise.all(agents.map((a) => a.stop()));
    for (const dir of dirs) killWorkloads(dir);
    await api?.close();
    await hub?.stop();
    for (const dir of dirs) await removeDir(dir);
    if (hub) await removeDir(hub.dataDir);
  });

  it('rejects overlapping batch selectors and thresholds out of range with 422 and the field path', async () => {
    const bad = structuredClone(placement);
    bad.metadata.name = 'bad';
    const rolloutSpec: Record<string, unknown> = bad.spec.rollout;
    rolloutSpec.batches = [
      { selector: { matchLabels: { device: 'ro-01' } } },
      { selector: { matchExpressions: [{ key: 'device', operator: 'In', values: ['ro-01', 'ro-02'] }] } },
    ];
    const overlapping = await kubectl(hub, ['create', '-f', '-'], JSON.stringify(bad));
    assert.notEqual(overlapping.code, 0);
    assert.match(
      overlapping.stderr,
      /spec\.rollout\.batches\[1\]\.selector: Invalid value: overlaps the selector of batches\[0\]/,
    );
    rolloutSpec.batches = [{ limit: '50%' }];
    rolloutSpec.errorThreshold = 0;
    const threshold = await kubectl(hub, ['create', '-f', '-'], JSON.stringify(bad));
    assert.notEqual(threshold.code, 0);
    assert.match(threshold.stderr, /spec\.rollout\.errorThreshold: Invalid value: must be >= 1/);
    const get = await kubectl(hub, ['get', 'placement', 'bad', '-n', NS]);
    assert.notEqual(get.code, 0, 'nothing was created');
  });

  it('records the first revision and runs it everywhere at once', async () => {
    await kubectlApply(hub, good('v1'), placement);
    await everyDevice(1);
    assert.equal((await rollout())?.phase, 'Complete');
    budgetChecked = true;
  });

  it('rolls a good revision out batch by batch, the second batch after approval', async () => {
    await kubectlApply(hub, good('v2'));
    const waiting = await waitFor(
      'batch 2 waiting for approval',
      async () => ((await rollout())?.phase === 'WaitingForApproval' ? rollout() : undefined),
      WAIT,
      500,
    );
    assert.equal(waiting?.updateRevision, 2);
    const view = await fleetView(api);
    for (const d of BATCHES[0]!)
      assert.deepEqual(view.get(d), { revision: 2, reported: true, running: true }, d);
    for (const d of [...BATCHES[1]!, ...BATCHES[2]!]) assert.equal(view.get(d)?.revision, 1, d);
    const status = await cli('status');
    assert.match(status.stdout, /revision 2 replacing 1, batch 1 of 3: WaitingForApproval/);
    assert.match(status.stdout, /batch 1: revision 2, 4 devices, 4 updated, 0 failed/);
    const approve = await cli('approve');
    assert.equal(approve.code, 0, approve.stderr);
    await everyDevice(2);
    await waitFor('the rollout complete', async () => (await rollout())?.phase === 'Complete', WAIT, 500);
    const watched = await cli('status', '--watch');
    assert.equal(watched.code, 0, watched.stderr);
    assert.match(watched.stdout, /revision 2 rolled out \(3 batches\)/);
    const get = await kubectl(hub, ['get', 'placements', '-n', NS]);
    assert.match(get.stdout, /REVISION\s+BATCH\s+ROLLOUT/);
    assert.match(get.stdout, /fleet\s.*\s2\s+3\/3\s+Complete/);
    assert.deepEqual(violations, []);
    assert.deepEqual(overBudget, [], 'one device of a site updating at a time');
  });

  it('stops a broken revision after the first batch and rolls it back there; later batches never get it', async () => {
    // Not paced by the budget: a rollback (applied at once), and a broken revision whose process is
    // reported running before it crashes (its slot was free again for the site's next device).
    budgetChecked = false;
    await kubectlApply(hub, broken);
    const failed = await waitFor(
      'the rollout rolled back',
      async () => {
        const r = await rollout();
        return r?.phase === 'RolledBack' ? r : undefined;
      },
      WAIT,
      500,
    );
    const failure = failed.failure as {
      revision: number;
      devices: string[];
      reasons: Array<{ reason: string }>;
    };
    assert.equal(failure.revision, 3);
    assert.equal(failed.currentRevision, 2);
    assert.equal(failed.updateRevision, 2);
    // errorThreshold 50 of the reachable devices given it (the budget gives batch 1, three devices
    // of north and one of south, one device per site at a time): one failing of two is enough.
    assert.ok(failure.devices.length > 0, 'the failed devices are named');
    for (const d of failure.devices) assert.ok(BATCHES[0]!.includes(d), `${d} is of the first batch`);
    // The agent's reason for a container that keeps exiting (CrashLoopBackOff once it restarts).
    assert.ok(failure.reasons.length > 0, 'the reasons are told');
    await everyDevice(2);
    // The sampler may miss a short stay; what it saw of revision 3 was on the first batch only.
    for (const d of held.get(3) ?? []) assert.ok(BATCHES[0]!.includes(d), `${d} held revision 3`);
    for (const d of [...BATCHES[1]!, ...BATCHES[2]!])
      assert.ok(!reported.get(3)?.has(d), `${d} never reported revision 3`);
    const status = await cli('status');
    assert.equal(status.code, 1);
    assert.match(
      status.stdout,
      /revision 3 failed on [1-4] of [1-4] reachable devices \(\w+: [1-4].*\); rolled back to revision 2/,
    );
    const history = await cli('history');
    assert.match(history.stdout, /\n3\s+\S+\s+app\s+failed, rolled back\n/);
    // Events are recorded in the background: wait for it.
    await waitFor(
      'a RolledBack Event',
      async () => /RolledBack/.test((await kubectl(hub, ['get', 'events', '-n', NS])).stdout),
      WAIT,
      500,
    );
  });

  it('holds a new revision while paused and rolls it out once resumed', async () => {
    budgetChecked = true;
    assert.equal((await cli('pause')).code, 0);
    await kubectlApply(hub, good('v4'));
    await waitFor(
      'revision 4 paused',
      async () => {
        const r = await rollout();
        return r?.updateRevision === 4 && r.phase === 'Paused';
      },
      WAIT,
      500,
    );
    // The controller has seen revision 4 and released nothing: no device holds it.
    assert.equal(held.get(4), undefined);
    assert.equal((await cli('resume')).code, 0);
    await waitFor(
      'batch 2 waiting for approval',
      async () => (await rollout())?.phase === 'WaitingForApproval',
      WAIT,
      500,
    );
    assert.equal((await cli('approve')).code, 0);
    await everyDevice(4);
    await waitFor('the rollout complete', async () => (await rollout())?.phase === 'Complete', WAIT, 500);
    assert.deepEqual(violations, []);
    assert.deepEqual(overBudget, [], 'one device of a site updating at a time');
  });

  it('gives a device offline during a rollback the good revision only when it returns', async () => {
    budgetChecked = false;
    const offline = 'ro-02';
    const index = DEVICES.indexOf(offline);
    // Heartbeats every second: the hub sees the device unreachable seconds after its agent stops.
    const patch = (seconds: number) =>
      kubectl(hub, [
        'patch',
        'device',
        offline,
        '--type=merge',
        '-p',
        JSON.stringify({ spec: { heartbeat: { periodSeconds: seconds } } }),
      ]);
    assert.equal((await patch(1)).code, 0);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    stopped.add(offline);
    await agents[index]!.stop();
    const phase = async () =>
      (
        (await api.request('GET', `/apis/outpost.dev/v1alpha1/devices/${offline}`)).json() as {
          status?: { phase?: string };
        }
      ).status?.phase;
    await waitFor(`${offline} unreachable`, async () => (await phase()) === 'Unreachable', WAIT, 500);
    await kubectlApply(hub, broken);
    const failed = await waitFor(
      'revision 5 rolled back',
      async () => {
        const r = await rollout();
        return r?.phase === 'RolledBack' && (r.failure as { revision: number }).revision === 5
          ? r
          : undefined;
      },
      WAIT,
      500,
    );
    assert.equal(failed.currentRevision, 4);
    const failedDevices = (failed.failure as { devices: string[] }).devices;
    assert.ok(failedDevices.length > 0, 'the failed devices are named');
    for (const d of failedDevices) assert.ok(BATCHES[0]!.includes(d), `${d} is of the first batch`);
    assert.ok(!failedDevices.includes(offline), 'the offline device is no failure');
    agents[index] = await startAgent({
      hubUrl: hub.url,
      dataDir: dirs[index]!,
      name: offline,
      args: ['--stop-workloads-on-exit'],
    });
    await everyDevice(4);
    stopped.delete(offline);
    // Its batch was given revision 5 while it was away (the sampler may miss that short stay), and
    // revision 4 back before it returned.
    assert.ok(!reported.get(5)?.has(offline), `${offline} never reported revision 5`);
    for (const d of [...BATCHES[1]!, ...BATCHES[2]!])
      assert.ok(!held.get(5)?.has(d), `${d} never held revision 5`);
    assert.equal((await patch(15)).code, 0);
  });
});
