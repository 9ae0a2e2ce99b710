/**
 * `npm start`: the whole path on one machine, with nothing to set up. A hub
 * on embedded SQLite in `.outpost/demo`, the PLC simulator, one local agent
 * (process runtime) enrolled with a bootstrap token, and an OpcUaConnector
 * placed on it; live Temperature and Pressure values are printed as they
 * reach the hub. Ctrl-C stops everything (the agent stops its workloads
 * first) and leaves no process behind.
 */
import { openSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { createToken } from '../cli/token-command.ts';
import { startHub } from '../hub/index.ts';
import { VERSION } from '../version.ts';
import { type DemoChild, startOutpost } from './children.ts';
import { applyConnector, applyExamples, DEMO_CONNECTOR, DEMO_DEVICE, DEMO_ROLE } from './examples.ts';
import { printValues } from './values.ts';

const dataDir = process.env.OUTPOST_DEMO_DIR ?? join(process.cwd(), '.outpost', 'demo');
await mkdir(dataDir, { recursive: true, mode: 0o700 });
const logPath = join(dataDir, 'demo.log');
const logFile = openSync(logPath, 'a');
// Everything that is not a value goes to the log file: the screen shows the story.
const logger = pino({ level: 'warn' }, pino.destination({ fd: logFile }));
const say = (line: string) => process.stdout.write(`${line}\n`);

const children: DemoChild[] = [];
let stopping = false;

const hub = await startHub({
  dataDir: join(dataDir, 'hub'),
  host: '127.0.0.1',
  port: 0,
  version: VERSION,
  logger,
});
let stopValues = () => {};
try {
  say(`Outpost ${VERSION} demo`);
  say(`hub listening on ${hub.url}`);
  say(`admin kubeconfig: ${hub.kubeconfigPath}`);
  await applyExamples(hub.service);

  const plc = startOutpost('plc-sim', ['plc-sim', '--port', '0', '--interval', '500ms'], logFile);
  children.push(plc);
  const [, endpoint] = await plc.waitFor(/plc-sim listening on (opc\.tcp:\/\/\S+)/);
  say(`PLC simulator on ${endpoint}`);

  const token = await createToken({
    kubeconfig: hub.kubeconfigPath,
    ttlSeconds: 3600,
    maxUses: 1,
    // The labels the agent asks for (--labels below): a device gets only labels its token allows.
    labels: { site: 'berlin', role: DEMO_ROLE },
    description: 'the npm start demo agent',
  });
  const agent = startOutpost(
    'agent',
    [
      'agent',
      ...['--hub', hub.url, '--token', token, '--data-dir', join(dataDir, 'agent')],
      ...['--name', DEMO_DEVICE, '--labels', `site=berlin,role=${DEMO_ROLE}`],
      ...['--runtime', 'process', '--stop-workloads-on-exit'],
    ],
    logFile,
  );
  children.push(agent);
  say(`agent ${DEMO_DEVICE} starting (process runtime)`);

  await applyConnector(hub.service, endpoint!);
  say(`OpcUaConnector ${DEMO_CONNECTOR.namespace}/${DEMO_CONNECTOR.name} applied; waiting for values...`);
  say('');
  say('Try, in another terminal:');
  say(`  kubectl --kubeconfig ${hub.kubeconfigPath} get devices,opcuaconnectors,workloads,placements -A`);
  say(`  node bin/outpost.js telemetry watch --kubeconfig ${hub.kubeconfigPath} -A`);
  say(
    `  node bin/outpost.js command send ${DEMO_CONNECTOR.name} temperatureSetpoint 80 -n ${DEMO_CONNECTOR.namespace} --kubeconfig ${hub.kubeconfigPath}`,
  );
  say(`Logs: ${logPath}. Press Ctrl-C to stop.`);
  say('');
  stopValues = printValues(hub.telemetry, say);
} catch (error) {
  say(`demo failed: ${(error as Error).message} (see ${logPath})`);
  await stop(1);
}

process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  stopValues();
  say('stopping...');
  // The agent first: it stops the connector it runs; then the simulator; the hub last.
  for (const child of [...children].reverse()) await child.stop();
  await hub.close().catch(() => {});
  say('demo stopped');
  process.exit(code);
}
