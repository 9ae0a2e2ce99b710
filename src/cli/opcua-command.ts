import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import pino from 'pino';
import { ConnectorConfigError, parseConnectorConfig } from '../api/index.ts';
import { runConnector, startPlcSimulator } from '../connectors/opcua/index.ts';
import { CliError } from './errors.ts';

/**
 * `outpost plc-sim`: an OPC UA server that behaves like a small PLC, until
 * SIGINT or SIGTERM. Prints `plc-sim listening on opc.tcp://...` (with the
 * real port) once it accepts connections.
 */
export function registerPlcSimCommand(program: Command): void {
  program
    .command('plc-sim')
    .description('run a simulated PLC: an OPC UA server with Temperature, Pressure and writable set points')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'TCP port (0: a free one, printed)', '4840')
    .option('--interval <duration>', 'how often the values change, e.g. 100ms or 1s', '1s')
    .option('--user <user:password>', 'accept only this user (no anonymous sessions)')
    .option('--nodes <n>', 'extra nodes ns=2;s=Node0.. that change on every tick (benchmarks)', '0')
    .option(
      '--pki-dir <dir>',
      "the server's certificate store (default: a temporary directory, removed on exit)",
    )
    .option('--log-level <level>', 'log level: debug, info, warn, error', 'warn')
    .action(
      async (options: {
        host: string;
        port: string;
        interval: string;
        user?: string;
        nodes: string;
        pkiDir?: string;
        logLevel: string;
      }) => {
        const port = Number(options.port);
        if (!Number.isInteger(port) || port < 0 || port > 65535)
          throw new CliError(`--port must be a port number, not ${JSON.stringify(options.port)}`);
        const nodes = Number(options.nodes);
        if (!Number.isInteger(nodes) || nodes < 0 || nodes > 100_000)
          throw new CliError('--nodes must be a whole number (0 to 100000)');
        const intervalMs = parseMilliseconds(options.interval, '--interval');
        let user: { username: string; password: string } | undefined;
        if (options.user !== undefined) {
          const colon = options.user.indexOf(':');
          if (colon <= 0) throw new CliError('--user must be user:password');
          user = { username: options.user.slice(0, colon), password: options.user.slice(colon + 1) };
        }
        const log = pino({ level: options.logLevel }, pino.destination(2));
        const pkiDir = options.pkiDir ?? mkdtempSync(join(tmpdir(), 'outpost-plc-sim-'));
        const removePki = () => {
          if (!options.pkiDir) rmSync(pkiDir, { recursive: true, force: true });
        };
        let simulator: Awaited<ReturnType<typeof startPlcSimulator>>;
        try {
          simulator = await startPlcSimulator({
            host: options.host,
            port,
            intervalMs,
            ...(user ? { user } : {}),
            extraNodes: nodes,
            pkiDir,
            log,
          });
        } catch (error) {
          removePki();
          throw error;
        }
        process.stdout.write(`plc-sim listening on ${simulator.endpointUrl}\n`);
        await waitForSignal();
        await simulator.stop();
        removePki();
        process.exit(0);
      },
    );
}

/**
 * `outpost opcua-connector --config FILE`: bridges an OPC UA server and the
 * local MQTT endpoint (`OUTPOST_MQTT_URL`) until SIGINT or SIGTERM.
 */
export function registerOpcUaConnectorCommand(program: Command): void {
  program
    .command('opcua-connector')
    .description('run the OPC UA connector: OPC UA values to MQTT telemetry, MQTT commands to OPC UA writes')
    .requiredOption('--config <file>', 'the connector config (config.yaml, as the hub renders it)')
    .option('--mqtt <url>', 'the MQTT broker (default: $OUTPOST_MQTT_URL)')
    .option(
      '--pki-dir <dir>',
      "the client's certificate store (default: $OUTPOST_CONNECTOR_PKI_DIR, else a directory under the temp dir)",
    )
    .option('--log-level <level>', 'log level: debug, info, warn, error', 'info')
    .action(async (options: { config: string; mqtt?: string; pkiDir?: string; logLevel: string }) => {
      let text: string;
      try {
        text = readFileSync(options.config, 'utf8');
      } catch (error) {
        throw new CliError(`cannot read --config ${options.config}: ${(error as Error).message}`);
      }
      let config: ReturnType<typeof parseConnectorConfig>;
      try {
        config = parseConnectorConfig(text, options.config);
      } catch (error) {
        if (error instanceof ConnectorConfigError) throw new CliError(error.message);
        throw error;
      }
      const mqttUrl = options.mqtt ?? process.env.OUTPOST_MQTT_URL;
      if (!mqttUrl)
        throw new CliError('no MQTT broker: set OUTPOST_MQTT_URL (the agent does) or pass --mqtt');
      const { namespace, name } = config.connector;
      const pkiDir =
        options.pkiDir ??
        process.env.OUTPOST_CONNECTOR_PKI_DIR ??
        join(tmpdir(), `outpost-opcua-connector-${namespace}-${name}`);
      const log = pino({ level: options.logLevel }, pino.destination(2)).child({
        connector: `${namespace}/${name}`,
      });
      const controller = new AbortController();
      process.once('SIGINT', () => controller.abort());
      process.once('SIGTERM', () => controller.abort());
      process.stdout.write(`opcua-connector ${namespace}/${name} running: ${config.server} -> ${mqttUrl}\n`);
      await runConnector({ config, mqttUrl, pkiDir, log, signal: controller.signal });
      process.exit(0);
    });
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
