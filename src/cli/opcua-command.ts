/**
 * `outpost plc-sim` and `outpost opcua-connector` (defined in commands.ts).
 * node-opcua loads with the connectors' folder, only when one of them runs.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConnectorConfigError, parseConnectorConfig } from '../api/index.ts';
import { runConnector, startPlcSimulator } from '../connectors/opcua/index.ts';
import { CliError } from './errors.ts';
import { createLogger, type LogFormat } from './logger.ts';

/** The options of `outpost plc-sim`, as commander parses them. */
export interface PlcSimFlags {
  host: string;
  port: string;
  interval: string;
  user?: string;
  nodes: string;
  pkiDir?: string;
  logLevel: string;
  logFormat?: LogFormat;
}

/** The options of `outpost opcua-connector`, as commander parses them. */
export interface ConnectorFlags {
  config: string;
  mqtt?: string;
  pkiDir?: string;
  logLevel: string;
  logFormat?: LogFormat;
}

/**
 * `outpost plc-sim`: an OPC UA server that behaves like a small PLC, until
 * SIGINT or SIGTERM. Prints `plc-sim listening on opc.tcp://...` (with the
 * real port) once it accepts connections.
 */
export async function runPlcSim(flags: PlcSimFlags): Promise<void> {
  const port = Number(flags.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new CliError(`--port must be a port number, not ${JSON.stringify(flags.port)}`);
  const nodes = Number(flags.nodes);
  if (!Number.isInteger(nodes) || nodes < 0 || nodes > 100_000)
    throw new CliError('--nodes must be a whole number (0 to 100000)');
  const intervalMs = parseMilliseconds(flags.interval, '--interval');
  let user: { username: string; password: string } | undefined;
  if (flags.user !== undefined) {
    const colon = flags.user.indexOf(':');
    if (colon <= 0) throw new CliError('--user must be user:password');
    user = { username: flags.user.slice(0, colon), password: flags.user.slice(colon + 1) };
  }
  const log = createLogger({ level: flags.logLevel, format: flags.logFormat });
  const pkiDir = flags.pkiDir ?? mkdtempSync(join(tmpdir(), 'outpost-plc-sim-'));
  const removePki = () => {
    if (!flags.pkiDir) rmSync(pkiDir, { recursive: true, force: true });
  };
  // A signal while the server starts (seconds: node-opcua builds its address space) ends the
  // process at once; nothing serves yet, and a temporary PKI folder goes with it.
  const early = () => {
    removePki();
    process.exit(0);
  };
  process.once('SIGINT', early);
  process.once('SIGTERM', early);
  let simulator: Awaited<ReturnType<typeof startPlcSimulator>>;
  try {
    simulator = await startPlcSimulator({
      host: flags.host,
      port,
      intervalMs,
      ...(user ? { user } : {}),
      extraNodes: nodes,
      pkiDir,
      log,
    });
  } catch (error) {
    removePki();
    const { listenError } = await import('./data-dir.ts');
    throw listenError(error, flags.host, port, '--port');
  }
  process.off('SIGINT', early);
  process.off('SIGTERM', early);
  process.stdout.write(`plc-sim listening on ${simulator.endpointUrl}\n`);
  await waitForSignal();
  await simulator.stop();
  removePki();
  process.exit(0);
}

/**
 * `outpost opcua-connector --config FILE`: bridges an OPC UA server and the
 * local MQTT endpoint (`OUTPOST_MQTT_URL`) until SIGINT or SIGTERM.
 */
export async function runOpcUaConnector(flags: ConnectorFlags): Promise<void> {
  let text: string;
  try {
    text = readFileSync(flags.config, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read --config ${flags.config}: ${(error as Error).message}`);
  }
  let config: ReturnType<typeof parseConnectorConfig>;
  try {
    config = parseConnectorConfig(text, flags.config);
  } catch (error) {
    if (error instanceof ConnectorConfigError) throw new CliError(error.message);
    throw error;
  }
  const mqttUrl = flags.mqtt ?? process.env.OUTPOST_MQTT_URL;
  if (!mqttUrl) throw new CliError('no MQTT broker: set OUTPOST_MQTT_URL (the agent does) or pass --mqtt');
  const { namespace, name } = config.connector;
  const pkiDir =
    flags.pkiDir ??
    process.env.OUTPOST_CONNECTOR_PKI_DIR ??
    join(tmpdir(), `outpost-opcua-connector-${namespace}-${name}`);
  const log = createLogger({ level: flags.logLevel, format: flags.logFormat }).child({
    connector: `${namespace}/${name}`,
  });
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  process.once('SIGTERM', () => controller.abort());
  process.stdout.write(`opcua-connector ${namespace}/${name} running: ${config.server} -> ${mqttUrl}\n`);
  await runConnector({ config, mqttUrl, pkiDir, log, signal: controller.signal });
  process.exit(0);
}

function waitForSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

/** `100ms`, `1s`, `1.5s` or bare milliseconds. */
function parseMilliseconds(text: string, option: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(text.trim());
  const ms = match ? Number(match[1]) * (match[2] === 's' ? 1000 : 1) : Number.NaN;
  if (!Number.isFinite(ms) || ms < 1) throw new CliError(`${option} must be a duration such as 100ms or 1s`);
  return ms;
}
