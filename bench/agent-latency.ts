/**
 * From a Workload change to the new workload instance running, p99: an
 * `outpost hub` process and an `outpost agent` process (compiled); a
 * Workload of one Deployment whose container writes a marker file named
 * after its env `SEQ` when it starts (`echo > DIR/$SEQ; exec sleep`). Each
 * round changes `SEQ` with a PATCH of the Workload and times, from just
 * before the PATCH is sent:
 * - `api`: the PATCH's answer;
 * - `mailbox`: the device's Mailbox carrying the new env (an admin watch of
 *   the Mailbox: the hub's placement controllers);
 * - `running`: the marker of the new instance appearing (`fs.watch`).
 * Rounds are 0.3-0.5 s apart (not back to back: a change while the previous
 * one is still being applied measures a queue).
 *
 * Runtimes: `process` (50 rounds) and `podman` (20 rounds; rootful, the test
 * image `localhost/busybox:latest`, the marker folder a hostPath volume; the
 * namespace is `privileged` for Pod Security). Each has its baseline in the
 * same run: starting the same command directly (`spawn('sh', ...)`; `podman
 * run -d` of the same image and command) the same number of times, timed to
 * the same marker. The podman runtime replaces the Deployment by starting
 * the new pod first (surge); the old one stops in the background with its
 * 1 s grace period (`sleep` ignores SIGTERM), outside the measured path.
 *
 *   npm run bench -- agent-latency
 *   BENCH_ROUNDS=N (process; podman gets N/2.5)   BENCH_PODMAN=0 (skip podman)
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, watch } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { removeDir, tempDir } from '../test/support/index.ts';
import {
  type ApiClient,
  apiClient,
  benchPlacement,
  benchWorkload,
  buildCli,
  create,
  createToken,
  startAgent,
  startHub,
  watchMailbox,
} from './agent-support.ts';
import { cpuSeconds, fmt, goalLine, machineLoad, report, summarize, table } from './support/index.ts';

const run = promisify(execFile);
const NS = 'bench-latency';
const ROUNDS = Number(process.env.BENCH_ROUNDS) > 0 ? Number(process.env.BENCH_ROUNDS) : 50;
const PODMAN_ROUNDS = Math.max(5, Math.round(ROUNDS / 2.5));
const GOALS_MS = { process: 1500, podman: 3000 } as const;
const IMAGE = 'localhost/busybox:latest';

type Runtime = keyof typeof GOALS_MS;

/** Resolves with the time (performance.now) at which `DIR/name` appears. */
class MarkerWatch {
  readonly #seen = new Map<string, number>();
  readonly #waiters = new Map<string, (at: number) => void>();
  readonly #watcher;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    this.#watcher = watch(dir, (_event, name) => {
      const at = performance.now();
      if (!name || this.#seen.has(name)) return;
      this.#seen.set(name, at);
      this.#waiters.get(name)?.(at);
    });
  }

  /** The time `name` appeared (now or later); fails after `timeoutMs`. */
  async appeared(name: string, timeoutMs = 60_000): Promise<number> {
    const seen = this.#seen.get(name);
    if (seen !== undefined) return seen;
    const deadline = sleep(timeoutMs).then(() => {
      throw new Error(`marker ${name} did not appear in ${timeoutMs} ms`);
    });
    const appeared = new Promise<number>((resolve) => this.#waiters.set(name, resolve));
    // fs.watch can coalesce events: a poll catches a file it did not report.
    const poll = (async () => {
      for (;;) {
        await sleep(200);
        if (existsSync(join(this.dir, name))) return this.#seen.get(name) ?? performance.now();
      }
    })();
    return Promise.race([appeared, deadline, poll]);
  }

  close(): void {
    this.#watcher.close();
  }
}

/** The `SEQ` env value of the Deployment `name` in a Mailbox, if any. */
function seqIn(mailbox: Record<string, unknown>, name: string): string | undefined {
  interface Shape {
    kind: string;
    metadata?: { name?: string };
    spec?: { template?: { spec?: { containers?: Array<{ env?: Array<{ name: string; value: string }> }> } } };
  }
  const objects = (mailbox.spec as { objects?: Array<{ object: Shape }> } | undefined)?.objects;
  const deployment = objects?.find((o) => o.object.kind === 'Deployment' && o.object.metadata?.name === name);
  const env = deployment?.object.spec?.template?.spec?.containers?.[0]?.env;
  return env?.find((e) => e.name === 'SEQ')?.value;
}

interface Phase {
  readonly api: number[];
  readonly mailbox: number[];
  readonly running: number[];
  readonly baseline: number[];
  readonly hubCpu: number;
  readonly agentCpu: number;
}

const bin = buildCli();
console.log(
  `agent-latency: Workload PATCH -> new instance running (marker file), ${ROUNDS} rounds (process) / ${PODMAN_ROUNDS} (podman); baseline: the same command started directly`,
);
console.log(machineLoad());
const hub = await startHub(bin);
const api: ApiClient = apiClient(hub.kubeconfig);
const work = await tempDir('outpost-bench-latency-');
const phases: Partial<Record<Runtime, Phase>> = {};

async function measure(runtime: Runtime, rounds: number): Promise<Phase> {
  const device = `bench-lat-${runtime}`;
  const markers = new MarkerWatch(join(work, `markers-${runtime}`));
  const marker = runtime === 'podman' ? '/marker' : markers.dir;
  const workload = (seq: number) =>
    benchWorkload(NS, `lat-${runtime}`, {
      command: ['sh', '-c', `echo "$SEQ" > "${marker}/$SEQ"; exec sleep 3600`],
      env: { SEQ: String(seq) },
      labels: { bench: `lat-${runtime}` },
      ...(runtime === 'podman' ? { hostPath: { path: markers.dir, mountPath: marker } } : {}),
    });
  await create(api, benchPlacement(NS, device, `lat-${runtime}`));
  const token = await createToken(bin, hub, `site=${device}`);
  const agent = await startAgent({
    bin,
    hub,
    name: device,
    dataDir: join(work, `agent-${runtime}`),
    token,
    args: ['--runtime', runtime, '--stop-workloads-on-exit'],
  });
  const mailboxSeen = new Map<string, number>();
  const watch = await watchMailbox(hub.kubeconfig, device, (mailbox) => {
    const seq = seqIn(mailbox, `lat-${runtime}`);
    if (seq !== undefined && !mailboxSeen.has(seq)) mailboxSeen.set(seq, performance.now());
  });
  const phase: Phase = { api: [], mailbox: [], running: [], baseline: [], hubCpu: 0, agentCpu: 0 };
  try {
    await create(api, workload(0));
    await markers.appeared('0', 120_000);
    await sleep(1000);
    const hubCpu = cpuSeconds(hub.process.pid!);
    const agentCpu = cpuSeconds(agent.process.pid!);
    const path = `/apis/outpost.dev/v1alpha1/namespaces/${NS}/workloads/lat-${runtime}`;
    for (let seq = 1; seq <= rounds; seq++) {
      const started = performance.now();
      const patched = await api.request('PATCH', path, {
        body: { spec: workload(seq).spec },
        contentType: 'application/merge-patch+json',
      });
      const answered = performance.now();
      if (patched.status !== 200) throw new Error(`PATCH ${path}: ${patched.status} ${patched.text}`);
      const ran = await markers.appeared(String(seq));
      phase.api.push(answered - started);
      phase.running.push(ran - started);
      const mailboxAt = mailboxSeen.get(String(seq));
      if (mailboxAt !== undefined) phase.mailbox.push(mailboxAt - started);
      await sleep(300 + Math.random() * 200);
    }
    Object.assign(phase, {
      hubCpu: cpuSeconds(hub.process.pid!) - hubCpu,
      agentCpu: cpuSeconds(agent.process.pid!) - agentCpu,
    });
  } finally {
    await watch.close();
    await agent.stop();
  }
  // Baseline: the same command started directly, timed to the same marker.
  const direct = new MarkerWatch(join(work, `direct-${runtime}`));
  // The containers.conf the agent gave podman (runc, ulimits this sandbox allows, cgroupfs): the same podman.
  const podmanEnv = {
    ...process.env,
    CONTAINERS_CONF: join(work, `agent-${runtime}`, 'podman', 'containers.conf'),
  };
  for (let seq = 1; seq <= rounds; seq++) {
    const command = `echo "$SEQ" > "${runtime === 'podman' ? '/marker' : direct.dir}/$SEQ"; exec sleep 3600`;
    const started = performance.now();
    if (runtime === 'process') {
      const child = spawn('sh', ['-c', command], {
        env: { ...process.env, SEQ: String(seq) },
        stdio: 'ignore',
      });
      phase.baseline.push((await direct.appeared(String(seq))) - started);
      child.kill('SIGKILL');
    } else {
      const name = `outpost-bench-direct-${seq}`;
      await run(
        'podman',
        [
          'run',
          '-d',
          '--name',
          name,
          '-e',
          `SEQ=${seq}`,
          '-v',
          `${direct.dir}:/marker`,
          IMAGE,
          'sh',
          '-c',
          command,
        ],
        { env: podmanEnv },
      );
      phase.baseline.push((await direct.appeared(String(seq))) - started);
      await run('podman', ['rm', '-f', '-t', '0', name], { env: podmanEnv });
    }
    await sleep(300 + Math.random() * 200);
  }
  markers.close();
  direct.close();
  return phase;
}

const podmanWanted = process.env.BENCH_PODMAN !== '0';
let podmanSkipped = '';
try {
  await create(api, {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: NS, labels: { 'pod-security.kubernetes.io/enforce': 'privileged' } },
  } as never);
  phases.process = await measure('process', ROUNDS);
  if (podmanWanted) {
    const image = await run('podman', ['image', 'exists', IMAGE]).then(
      () => true,
      () => false,
    );
    if (image) phases.podman = await measure('podman', PODMAN_ROUNDS);
    else podmanSkipped = `${IMAGE} is missing (scripts/build-test-image.sh)`;
  } else podmanSkipped = 'BENCH_PODMAN=0';
} finally {
  await api.close();
  await hub.stop();
  await removeDir(hub.dataDir);
  await removeDir(work);
}

const rows: string[][] = [];
const results: Record<string, number | boolean | string> = {};
let met = true;
for (const runtime of ['process', 'podman'] as const) {
  const phase = phases[runtime];
  if (!phase) continue;
  const line = (what: string, values: number[]) => {
    const s = summarize(values);
    rows.push([`${runtime}: ${what}`, String(s.count), fmt(s.p50), fmt(s.p90), fmt(s.p99), fmt(s.max)]);
    return s;
  };
  line('PATCH answered', phase.api);
  line('Mailbox rewritten (hub)', phase.mailbox);
  const running = line('new instance running', phase.running);
  const baseline = line('baseline: started directly', phase.baseline);
  results[`${runtime}P99Ms`] = running.p99;
  results[`${runtime}P50Ms`] = running.p50;
  results[`${runtime}BaselineP99Ms`] = baseline.p99;
  results[`${runtime}HubCpuMsPerChange`] = (phase.hubCpu * 1000) / phase.running.length;
  results[`${runtime}AgentCpuMsPerChange`] = (phase.agentCpu * 1000) / phase.running.length;
  if (running.p99 > GOALS_MS[runtime]) met = false;
}
console.log(`\n${table(['from the PATCH (ms)', 'n', 'p50', 'p90', 'p99', 'max'], rows)}\n`);
for (const runtime of ['process', 'podman'] as const)
  if (phases[runtime])
    console.log(
      `${runtime}: CPU per change: hub ${fmt(Number(results[`${runtime}HubCpuMsPerChange`]))} ms, agent ${fmt(Number(results[`${runtime}AgentCpuMsPerChange`]))} ms`,
    );
if (podmanSkipped) console.log(`podman not measured: ${podmanSkipped}`);
console.log(machineLoad());
console.log(
  goalLine(
    `p99 PATCH -> running under ${GOALS_MS.process} ms (process: ${fmt(Number(results.processP99Ms))} ms)` +
      (phases.podman ? ` and ${GOALS_MS.podman} ms (podman: ${fmt(Number(results.podmanP99Ms))} ms)` : ''),
    met && phases.process !== undefined,
  ),
);
report('agent-latency', { goalMet: met && phases.process !== undefined, ...results });
