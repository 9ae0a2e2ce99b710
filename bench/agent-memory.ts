/**
 * Agent resident memory with 10 process workloads: an `outpost hub` process
 * and one `outpost agent` process (compiled, `--runtime process`) running 10
 * placed Workloads (each a one-replica Deployment running `sleep`). Once all
 * 10 are reported Running the agent's memory is sampled from `/proc/PID/status`
 * every second for `BENCH_SECONDS` (default 30 s: two heartbeats at the
 * default 15 s period), and the last sample and the largest one are kept.
 *
 * Variants, one after the other on the same device (each stops its
 * workloads when it stops, so the next one starts them again):
 * - `first start`: the agent as it starts for the first time, enrolling
 *   (key, CSR, the API's token helpers);
 * - `as shipped`: an enrolled agent started as `outpost agent` starts itself
 *   (with the V8 settings it applies to itself, `AGENT_V8_FLAGS` in
 *   src/cli/agent-v8-flags.ts); no workload uses MQTT, so the telemetry's
 *   MQTT code is not loaded (src/agent/telemetry/);
 * - `node defaults`: the same without them (`OUTPOST_AGENT_V8_FLAGS=`);
 * - other node flags and glibc settings, for comparison;
 * - `a workload using MQTT`: the same, with a local MQTT client (as a
 *   workload would: subscribed to `commands/#`, one telemetry message sent)
 *   connected all along, so the local broker and the hub uplink run;
 * - `without telemetry`: a copy of the build whose telemetry module (local
 *   MQTT endpoint, hub uplink) starts nothing, to show what it costs.
 *
 * Baselines in the same run: a bare `node -e 'setInterval(() => {}, 1000)'`,
 * and the same as an ES module file (the CLI is one: node's ESM loader).
 * RSS counts the node executable's pages that are mapped (file-backed,
 * shared between node processes, ~33 MB); the anonymous part is what the
 * agent itself allocates.
 *
 *   npm run bench -- agent-memory
 */
import { spawn } from 'node:child_process';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt from 'mqtt';
import { removeDir, tempDir } from '../test/support/index.ts';
import {
  type ApiClient,
  apiClient,
  benchPlacement,
  benchWorkload,
  buildCli,
  create,
  createToken,
  memoryOf,
  type ProcessMemory,
  startAgent,
  startHub,
  waitRunning,
} from './agent-support.ts';
import { fmt, goalLine, machineLoad, report, roundMs, table } from './support/index.ts';

const WORKLOADS = 10;
const GOAL_MB = 50;
const NS = 'bench-agent';
const DEVICE = 'bench-mem';
const MB = 1024 * 1024;

interface Variant {
  readonly label: string;
  readonly nodeFlags?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** Run the copy of the build whose telemetry module is a no-op. */
  readonly withoutTelemetry?: boolean;
  /** Keep a local MQTT client connected, as a workload using telemetry and commands would. */
  readonly mqttClient?: boolean;
}

const DEFAULTS = { OUTPOST_AGENT_V8_FLAGS: '' };
const VARIANTS: readonly Variant[] = [
  { label: 'as shipped' },
  { label: 'node defaults', env: DEFAULTS },
  {
    label: 'as shipped + --optimize-for-size set at run time',
    env: { OUTPOST_AGENT_V8_FLAGS: '--max-opt=1 --semi-space-growth-factor=1 --optimize-for-size' },
  },
  { label: 'as shipped + MALLOC_ARENA_MAX=2', env: { MALLOC_ARENA_MAX: '2' } },
  { label: 'as shipped + node --lite-mode', nodeFlags: ['--lite-mode'] },
  { label: 'as shipped, a workload using MQTT', mqttClient: true },
  { label: 'as shipped, without telemetry (MQTT)', withoutTelemetry: true },
];

/**
 * A copy of the build whose `agent/telemetry/index.js` starts nothing: the
 * agent without its local MQTT endpoint and hub uplink (aedes, mqtt), to
 * show what they cost.
 */
function withoutTelemetry(bin: string): string {
  const build = dirname(dirname(bin));
  const copy = `${build}-no-telemetry`;
  rmSync(copy, { recursive: true, force: true });
  cpSync(build, copy, { recursive: true });
  const index = join(copy, 'agent', 'telemetry', 'index.js');
  // Every other name the real module exports, as a placeholder: importers must still link.
  const names = [...readFileSync(index, 'utf8').matchAll(/export \{([^}]*)\}/g)]
    .flatMap((match) => match[1]!.split(','))
    .map(
      (name) =>
        name
          .trim()
          .split(/\s+as\s+/)
          .pop()!,
    )
    .filter((name) => name && name !== 'startAgentTelemetry');
  writeFileSync(
    index,
    `export async function startAgentTelemetry() {
  return {
    url: '', env: {}, credentialsRenewed() {}, async close() {},
    run: (signal) => new Promise((resolve) => signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })),
  };
}
${names.map((name) => `export const ${name} = undefined;`).join('\n')}
`,
  );
  return join(copy, 'cli', 'main.js');
}

/**
 * A local MQTT client on the agent's endpoint (`DATA_DIR/mqtt.json`), as a
 * workload using telemetry would be: subscribed to its commands, one
 * telemetry message sent (so the hub uplink connects too).
 */
async function mqttWorkload(dir: string): Promise<mqtt.MqttClient> {
  const { port } = JSON.parse(readFileSync(join(dir, 'mqtt.json'), 'utf8')) as { port: number };
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    protocolVersion: 4,
    reconnectPeriod: 0,
  });
  await client.subscribeAsync('commands/#', { qos: 1 });
  await client.publishAsync('telemetry/bench/memory/value', JSON.stringify({ value: 1 }), { qos: 1 });
  return client;
}

/** Samples `pid`'s memory every second for `ms`; returns the last sample and the largest RSS seen. */
async function sample(pid: number, ms: number): Promise<{ last: ProcessMemory; maxRss: number }> {
  let last = memoryOf(pid);
  let maxRss = last.rss;
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    await sleep(1000);
    last = memoryOf(pid);
    maxRss = Math.max(maxRss, last.rss);
  }
  return { last, maxRss };
}

const row = (label: string, memory: { last: ProcessMemory; maxRss: number }) => [
  label,
  fmt(memory.last.rss / MB, 1),
  fmt(memory.maxRss / MB, 1),
  fmt(memory.last.anon / MB, 1),
  fmt(memory.last.file / MB, 1),
  fmt(memory.last.peak / MB, 1),
];

const settleMs = roundMs(30);
console.log(
  `agent-memory: one agent (process runtime) with ${WORKLOADS} workloads, memory sampled for ${settleMs / 1000} s after all run; baseline a bare node process`,
);
console.log(machineLoad());
const bin = buildCli();
const binWithoutTelemetry = withoutTelemetry(bin);
const hub = await startHub(bin);
const api: ApiClient = apiClient(hub.kubeconfig);
const dataDir = await tempDir('outpost-bench-agent-');
const rows: string[][] = [];
const results: Record<string, number> = {};
try {
  // Baseline: the cost of a node process doing nothing, measured the same way.
  const bare = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  await sleep(2000);
  const bareMemory = await sample(bare.pid!, Math.min(settleMs, 5000));
  bare.kill();
  rows.push(row("bare node -e 'setInterval(...)'", bareMemory));
  results.bareRssMb = bareMemory.last.rss / MB;
  const moduleFile = join(dataDir, 'idle.mjs');
  writeFileSync(moduleFile, 'setInterval(() => {}, 1000);\n');
  const bareModule = spawn(process.execPath, [moduleFile], { stdio: 'ignore' });
  await sleep(2000);
  const bareModuleMemory = await sample(bareModule.pid!, Math.min(settleMs, 5000));
  bareModule.kill();
  rows.push(row('bare node idle.mjs (an ES module)', bareModuleMemory));
  results.bareModuleRssMb = bareModuleMemory.last.rss / MB;

  await create(api, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } } as never);
  for (let i = 0; i < WORKLOADS; i++)
    await create(api, benchWorkload(NS, `w${i}`, { command: ['sleep', '3600'] }));
  await create(api, benchPlacement(NS));
  const token = await createToken(bin, hub, 'site=bench');

  const measure = async (label: string, variant: Omit<Variant, 'label'>, withToken: boolean) => {
    const agent = await startAgent({
      bin: variant.withoutTelemetry ? binWithoutTelemetry : bin,
      hub,
      name: DEVICE,
      dataDir,
      ...(withToken ? { token } : {}),
      nodeFlags: variant.nodeFlags ?? [],
      args: ['--stop-workloads-on-exit'],
      env: variant.env ?? {},
    });
    let client: mqtt.MqttClient | undefined;
    try {
      await waitRunning(api, DEVICE, WORKLOADS);
      if (variant.mqttClient) client = await mqttWorkload(dataDir);
      const memory = await sample(agent.process.pid!, settleMs);
      rows.push(row(label, memory));
      console.log(rows.at(-1)!.join('  '));
      return memory;
    } finally {
      await client?.endAsync(true);
      await agent.stop();
    }
  };

  const first = await measure('first start (enrolls), as shipped', {}, true);
  results.firstStartRssMb = first.last.rss / MB;
  for (const variant of VARIANTS) {
    const memory = await measure(variant.label, variant, false);
    if (variant.label === 'as shipped') results.shippedRssMb = memory.last.rss / MB;
    if (variant.label === 'node defaults') results.defaultsRssMb = memory.last.rss / MB;
    if (variant.mqttClient) results.shippedMqttInUseRssMb = memory.last.rss / MB;
    if (variant.label === 'as shipped, without telemetry (MQTT)')
      results.shippedWithoutTelemetryRssMb = memory.last.rss / MB;
  }
} finally {
  await api.close();
  await hub.stop();
  await removeDir(hub.dataDir);
  await removeDir(dataDir);
}

console.log(`\n${table(['agent', 'RSS MB', 'max RSS MB', 'anon MB', 'file MB', 'peak (VmHWM) MB'], rows)}\n`);
console.log(machineLoad());
const shipped = results.shippedRssMb ?? Number.NaN;
const met = shipped < GOAL_MB;
console.log(
  goalLine(
    `agent RSS with ${WORKLOADS} process workloads under ${GOAL_MB} MB (${fmt(shipped, 1)} MB; bare node ${fmt(results.bareRssMb ?? Number.NaN, 1)} MB)`,
    met,
  ),
);
report('agent-memory', { goalMet: met, ...results });
