/**
 * `npm start`: a hub on embedded SQLite in `.outpost/demo`, with a few
 * example objects applied, and the admin kubeconfig printed. The agent, the
 * PLC simulator and the OPC UA connector join the demo as they are built.
 * Ctrl-C stops everything cleanly.
 */
import { join } from 'node:path';
import pino from 'pino';
import { startHub } from '../hub/index.ts';
import { VERSION } from '../version.ts';
import { applyExamples } from './examples.ts';

const dataDir = process.env.OUTPOST_DEMO_DIR ?? join(process.cwd(), '.outpost', 'demo');
const logger = pino({ level: 'warn' }, pino.destination(2));
const hub = await startHub({ dataDir, host: '127.0.0.1', port: 0, version: VERSION, logger });
await applyExamples(hub.service);

process.stdout.write(
  [
    `Outpost ${VERSION} demo`,
    `hub listening on ${hub.url}`,
    `admin kubeconfig: ${hub.kubeconfigPath}`,
    '',
    'Try:',
    `  kubectl --kubeconfig ${hub.kubeconfigPath} get devices,workloads,placements -A`,
    `  kubectl --kubeconfig ${hub.kubeconfigPath} get workloads -A -w`,
    '',
    'Press Ctrl-C to stop.',
    '',
  ].join('\n'),
);

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  hub.close().then(
    () => {
      process.stdout.write('demo stopped\n');
      process.exit(0);
    },
    () => process.exit(1),
  );
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
