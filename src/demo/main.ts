/**
 * `npm start`: the whole path on one machine, with nothing to set up. A hub
 * on embedded SQLite in `.outpost/demo`, the PLC simulator, one local agent
 * (process runtime) enrolled with a bootstrap token, and an OpcUaConnector
 * placed on it; live Temperature and Pressure values are printed as they
 * reach the hub. The web dashboard is served through a local proxy with the
 * admin's kubeconfig (as `outpost dashboard`), and its URL printed.
 *
 * Every run works, whatever the last one did: it first stops what an
 * earlier run left (`leftovers.ts`), keeps the hub and the simulator on the
 * last run's ports (`ports.ts`), and its children die with it however it
 * ends (`children.ts`). Ctrl-C at any moment, start-up included, stops
 * everything (the agent stops its workloads first).
 *
 * For speed the simulator starts first (it is the slowest), and an enrolled
 * agent starts with it, before the hub: it runs its connector from its
 * local Mailbox copy while the hub's modules are still loading.
 */
import { closeSync, existsSync, openSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { type DashboardProxy, startDashboardProxy } from '../cli/dashboard-proxy.ts';
import { prepareDataDir } from '../cli/data-dir.ts';
import { loadKubeconfig } from '../cli/kubeconfig.ts';
import { createLogger } from '../cli/logger.ts';
import type { RunningHub } from '../hub/index.ts';
import { VERSION } from '../version.ts';
import { type DemoChild, failWhenItExits, startOutpost } from './children.ts';
import { recordStarted, stopLeftovers } from './leftovers.ts';
import { choosePorts, pointAgentAt } from './ports.ts';

const startedAt = Date.now();
const dataDir = process.env.OUTPOST_DEMO_DIR ?? join(process.cwd(), '.outpost', 'demo');
const logPath = join(dataDir, 'demo.log');
/** The device and labels the agent enrolls with (also in examples.ts, which loads with the hub). */
const AGENT = { name: 'demo-gateway', labels: 'site=berlin,role=opcua-gateway' };

const children: DemoChild[] = [];
let hub: RunningHub | undefined;
let dashboard: DashboardProxy | undefined;
let logFd: number | undefined;
let stopValues = () => {};
let stopping: Promise<void> | undefined;

// First of all: a Ctrl-C during start-up must stop what has started so far, not kill the demo alone.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void stop(0));
// The terminal went away: nobody reads the values any more.
process.stdout.on('error', () => void stop(0));

try {
  await run();
} catch (error) {
  if (!stopping) {
    say(`demo failed: ${(error as Error).message} (see ${shown(logPath)})`);
    await stop(1);
  }
}

async function run(): Promise<void> {
  await prepareDataDir(dataDir, 'OUTPOST_DEMO_DIR');
  logFd = openSync(logPath, 'a');
  say(`Outpost ${VERSION} demo`);
  const leftovers = await stopLeftovers(dataDir);
  if (leftovers > 0) say(`stopped ${leftovers} processes an earlier run left behind`);
  if (stopping) return;
  const ports = await choosePorts(dataDir);
  const hubUrl = `https://127.0.0.1:${ports.hub}`;
  const endpoint = `opc.tcp://127.0.0.1:${ports.plc}/UA/Outpost`;
  const agentDir = join(dataDir, 'agent');
  const enrolled = existsSync(join(agentDir, 'kubeconfig'));
  if (enrolled && (await pointAgentAt(agentDir, hubUrl))) say(`agent ${AGENT.name} re-pointed at ${hubUrl}`);

  const plc = spawnChild('plc-sim', [
    ...['plc-sim', '--port', String(ports.plc), '--interval', '500ms'],
    // Kept between runs: the server's key is made once, not on every start.
    ...['--pki-dir', join(dataDir, 'plc-sim'), '--log-format', 'json'],
  ]);
  plc?.waitFor(/plc-sim listening on (opc\.tcp:\/\/\S+)/).then(
    ([, url]) => {
      if (!stopping) say(`PLC simulator on ${url}`);
    },
    (error: Error) => failed(error),
  );
  const agentArgs = [
    ...['agent', '--hub', hubUrl, '--data-dir', agentDir, '--name', AGENT.name, '--labels', AGENT.labels],
    ...['--runtime', 'process', '--stop-workloads-on-exit', '--log-format', 'json'],
  ];
  if (enrolled) startAgent(agentArgs, {});

  const [{ startHub }, examples] = await Promise.all([import('../hub/index.ts'), import('./examples.ts')]);
  if (stopping) return;
  hub = await startHub({
    dataDir: join(dataDir, 'hub'),
    host: '127.0.0.1',
    port: ports.hub,
    version: VERSION,
    // Everything that is not a value goes to the log file: the screen shows the story.
    logger: createLogger({ level: 'warn', format: 'json', fd: logFd }),
  });
  if (stopping) return;
  say(`hub listening on ${hub.url}`);
  say(`admin kubeconfig: ${shown(hub.kubeconfigPath)}`);
  dashboard = await startDashboardProxy({ hub: await loadKubeconfig(hub.kubeconfigPath) });
  say(`dashboard: ${dashboard.url}`);
  // A first run's agent as soon as it can enroll: it loads while the examples are applied.
  if (!enrolled) startAgent(agentArgs, { OUTPOST_TOKEN: await examples.createAgentToken(hub.service) });
  await examples.applyExamples(hub.service);
  await examples.applyConnector(hub.service, endpoint);
  if (stopping) return;
  const { namespace, name } = examples.DEMO_CONNECTOR;
  const kubeconfig = shown(hub.kubeconfigPath);
  say(`OpcUaConnector ${namespace}/${name} applied; waiting for values...`);
  say('');
  say('Try, in another terminal:');
  say(`  kubectl --kubeconfig ${kubeconfig} get devices,opcuaconnectors,workloads,placements -A`);
  say(`  node bin/outpost.js telemetry watch -A --kubeconfig ${kubeconfig}`);
  say(
    `  node bin/outpost.js command send ${name} temperatureSetpoint 80 -n ${namespace} --kubeconfig ${kubeconfig}`,
  );
  say(`Logs: ${shown(logPath)}. Press Ctrl-C to stop.`);
  say('');
  const { printValues } = await import('./values.ts');
  if (!stopping) stopValues = printValues(hub.telemetry, say, startedAt);
}

function startAgent(args: readonly string[], env: Record<string, string>): void {
  // The token goes in the environment: a command line is visible to every user of the machine.
  const agent = spawnChild('agent', args, env);
  if (agent) say(`agent ${AGENT.name} starting (process runtime)`);
  agent?.waitFor(/agent \S+ running/).catch((error: Error) => failed(error));
}

/** Starts an `outpost` child unless the demo is stopping, and records it for the next run. */
function spawnChild(
  name: string,
  args: readonly string[],
  env?: Record<string, string>,
): DemoChild | undefined {
  if (stopping) return undefined;
  const child = startOutpost(name, args, { cwd: dataDir, logFd: logFd!, ...(env ? { env } : {}) });
  children.push(child);
  recordStarted(dataDir, children);
  failWhenItExits(child, () => stopping !== undefined, failed);
  return child;
}

/** A child failed while the demo runs: say so and stop the rest. */
function failed(error: Error): void {
  if (stopping) return;
  say(`demo failed: ${error.message} (see ${shown(logPath)})`);
  void stop(1);
}

/** Stops everything once, however often it is asked: the agent first, the simulator, the hub; then exits. */
function stop(code: number): Promise<void> {
  stopping ??= (async () => {
    stopValues();
    say('stopping...');
    // The agent first: it stops the connector it runs; then the simulator.
    for (const child of [...children].reverse()) await child.stop();
    await dashboard?.close().catch(() => {});
    await hub?.close().catch(() => {});
    // This run's record, once its children are gone (never another run's: see stopLeftovers).
    if (children.length > 0) await rm(join(dataDir, 'children.json'), { force: true });
    say('demo stopped');
    if (logFd !== undefined) closeSync(logFd);
    process.exit(code);
  })();
  return stopping;
}

function say(line: string): void {
  if (!process.stdout.writableEnded) process.stdout.write(`${line}\n`);
}

/** A path as the reader would type it: relative to the current folder when it is inside it. */
function shown(path: string): string {
  const inside = relative(process.cwd(), path);
  return inside.startsWith('..') || inside === '' ? path : inside;
}
