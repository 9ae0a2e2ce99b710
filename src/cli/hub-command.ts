import type { Command } from 'commander';
import pino from 'pino';
import { startHub } from '../hub/index.ts';
import { VERSION } from '../version.ts';
import { parseDuration } from './duration.ts';
import { CliError } from './errors.ts';

/** `outpost hub`: serves the API until SIGINT or SIGTERM. */
export function registerHubCommand(program: Command): void {
  program
    .command('hub')
    .description('run the hub: the Kubernetes-compatible API that agents and kubectl talk to')
    .requiredOption('--data-dir <dir>', 'where the hub keeps its database, certificates and admin.kubeconfig')
    .option('--listen <host:port>', 'address to listen on (port 0 picks a free port)', '127.0.0.1:6443')
    .option(
      '--store <url>',
      'object store: sqlite:PATH or postgres://USER@HOST:PORT/DB[?schema=NAME] (default: sqlite:DIR/outpost.db)',
    )
    .option('--sqlite-synchronous <mode>', 'SQLite durability: FULL (survives power loss) or NORMAL', 'FULL')
    .option('--history <seconds>', 'how long watch history is kept', '300')
    .option(
      '--watch-bookmark-interval <duration>',
      'how often watches that allow bookmarks get one (whole seconds)',
      '10s',
    )
    .option('--log-level <level>', 'log level: debug, info, warn, error', 'info')
    .option(
      '--encryption-key-file <file>',
      'key file for secrets at rest, to share one key among replicas (default: DIR/encryption.key, created when missing)',
    )
    .option(
      '--encrypt-resources <list>',
      'resources encrypted at rest, comma-separated (default: secrets,workloads.outpost.dev,mailboxes.outpost.dev,opcuaconnectors.outpost.dev)',
    )
    .option(
      '--device-cert-lifetime <duration>',
      'lifetime of device certificates (e.g. 30d, 12h, 90s)',
      '30d',
    )
    .option('--device-renewal-grace <duration>', 'how long after expiry a device may still renew', '30d')
    .option(
      '--lease-duration <duration>',
      'leader election among replicas: how long the controllers lease outlives its last renewal',
      '15s',
    )
    .option(
      '--require-device-bounds',
      'namespaces that no DeviceBoundary names place on no device (default: on any device)',
      false,
    )
    .option(
      '--mqtt <url>',
      'bridge the embedded MQTT broker to an external one (mqtt://HOST:PORT): telemetry goes there, commands come from there',
    )
    .action(
      async (options: {
        dataDir: string;
        listen: string;
        store?: string;
        sqliteSynchronous: string;
        history: string;
        watchBookmarkInterval: string;
        logLevel: string;
        encryptionKeyFile?: string;
        encryptResources?: string;
        deviceCertLifetime: string;
        deviceRenewalGrace: string;
        leaseDuration: string;
        mqtt?: string;
        requireDeviceBounds: boolean;
      }) => {
        const { host, port } = parseListen(options.listen);
        const synchronous = options.sqliteSynchronous.toUpperCase();
        if (synchronous !== 'FULL' && synchronous !== 'NORMAL')
          throw new CliError(`--sqlite-synchronous must be FULL or NORMAL, not ${options.sqliteSynchronous}`);
        const history = Number(options.history);
        if (!Number.isFinite(history) || history <= 0)
          throw new CliError(`--history must be a positive number of seconds`);
        if (options.mqtt !== undefined && !/^(mqtts?|wss?):\/\/[^/]+/.test(options.mqtt))
          throw new CliError(
            `--mqtt must be a broker URL such as mqtt://HOST:PORT, not ${JSON.stringify(options.mqtt)}`,
          );
        const logger = pino({ level: options.logLevel }, pino.destination(2));
        const hub = await startHub({
          dataDir: options.dataDir,
          host,
          port,
          store: options.store,
          synchronous,
          version: VERSION,
          logger,
          historyRetentionMs: history * 1000,
          bookmarkIntervalMs:
            parseDuration(options.watchBookmarkInterval, '--watch-bookmark-interval') * 1000,
          encryptionKeyFile: options.encryptionKeyFile,
          encryptResources: options.encryptResources?.split(',').filter((resource) => resource !== ''),
          deviceCertLifetimeSeconds: parseDuration(options.deviceCertLifetime, '--device-cert-lifetime'),
          deviceRenewalGraceSeconds: parseDuration(options.deviceRenewalGrace, '--device-renewal-grace'),
          leaseDurationMs: parseDuration(options.leaseDuration, '--lease-duration') * 1000,
          mqttUrl: options.mqtt,
          requireDeviceBounds: options.requireDeviceBounds,
        });
        process.stdout.write(`hub listening on ${hub.url}\nadmin kubeconfig: ${hub.kubeconfigPath}\n`);
        const stop = () => {
          hub.close().then(
            () => process.exit(0),
            () => process.exit(1),
          );
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      },
    );
}

function parseListen(listen: string): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(listen);
  if (!match) throw new CliError(`--listen must be HOST:PORT, not ${JSON.stringify(listen)}`);
  const port = Number(match[2]);
  if (port > 65535) throw new CliError(`--listen port ${port} is out of range`);
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
}
