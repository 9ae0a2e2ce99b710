/** `outpost hub`: serves the API until SIGINT or SIGTERM (defined in commands.ts). */
import type { startHub } from '../hub/index.ts';
import { VERSION } from '../version.ts';
import { checkPortFree, fileError, listenError, prepareDataDir, removeCreated } from './data-dir.ts';
import { parseDuration } from './duration.ts';
import { CliError } from './errors.ts';
import { createLogger, type LogFormat } from './logger.ts';

/** The options of `outpost hub`, as commander parses them. */
export interface HubFlags {
  dataDir: string;
  listen: string;
  store?: string;
  sqliteSynchronous: string;
  sqliteCommit: string;
  history: string;
  watchBookmarkInterval: string;
  logLevel: string;
  logFormat?: LogFormat;
  encryptionKeyFile?: string;
  encryptResources?: string;
  deviceCertLifetime: string;
  deviceRenewalGrace: string;
  leaseDuration: string;
  eventTtl: string;
  mqtt?: string;
  mqttTlsPort?: string;
  requireDeviceBounds: boolean;
  objects?: string;
  objectQuotaBytes: string;
  objectQuotaObjects: string;
}

/**
 * Checks the flags, the data dir and the port before anything is written,
 * starts the hub, prints its URL and admin kubeconfig, and stops it on
 * SIGINT or SIGTERM. A start that fails leaves no data dir it created.
 */
export async function runHubCommand(flags: HubFlags): Promise<void> {
  const { host, port } = parseListen(flags.listen);
  const synchronous = flags.sqliteSynchronous.toUpperCase();
  if (synchronous !== 'FULL' && synchronous !== 'NORMAL')
    throw new CliError(`--sqlite-synchronous must be FULL or NORMAL, not ${flags.sqliteSynchronous}`);
  if (flags.sqliteCommit !== 'thread' && flags.sqliteCommit !== 'loop')
    throw new CliError(`--sqlite-commit must be thread or loop, not ${flags.sqliteCommit}`);
  const history = Number(flags.history);
  if (!Number.isFinite(history) || history <= 0)
    throw new CliError(`--history must be a positive number of seconds`);
  if (flags.mqtt !== undefined && !/^(mqtts?|wss?):\/\/[^/]+/.test(flags.mqtt))
    throw new CliError(
      `--mqtt must be a broker URL such as mqtt://HOST:PORT, not ${JSON.stringify(flags.mqtt)}`,
    );
  const mqttTlsPort = flags.mqttTlsPort === undefined ? undefined : Number(flags.mqttTlsPort);
  if (mqttTlsPort !== undefined && (!/^\d{1,5}$/.test(flags.mqttTlsPort!) || mqttTlsPort > 65535))
    throw new CliError(
      `--mqtt-tls-port must be a port number (0 to 65535), not ${JSON.stringify(flags.mqttTlsPort)}`,
    );
  const deviceCertLifetimeSeconds = parseDuration(flags.deviceCertLifetime, '--device-cert-lifetime');
  const deviceRenewalGraceSeconds = parseDuration(flags.deviceRenewalGrace, '--device-renewal-grace');
  const leaseDurationMs = parseDuration(flags.leaseDuration, '--lease-duration') * 1000;
  const eventTtlMs = parseDuration(flags.eventTtl, '--event-ttl') * 1000;
  const bookmarkIntervalMs = parseDuration(flags.watchBookmarkInterval, '--watch-bookmark-interval') * 1000;
  const objectQuota = {
    bytes: positiveInteger(flags.objectQuotaBytes, '--object-quota-bytes'),
    objects: positiveInteger(flags.objectQuotaObjects, '--object-quota-objects'),
  };
  if (flags.objects !== undefined) {
    const { parseS3Url } = await import('../hub/objects/index.ts');
    try {
      parseS3Url(flags.objects);
    } catch (error) {
      throw new CliError((error as Error).message);
    }
  }
  // The port first: a port in use is found before keys and a database are made for nothing.
  await checkPortFree(host, port);
  const dataDir = await prepareDataDir(flags.dataDir);
  const logger = createLogger({ level: flags.logLevel, format: flags.logFormat });
  let hub: Awaited<ReturnType<typeof startHub>>;
  try {
    // Loaded after the checks: a wrong flag, folder or port is reported at once.
    const { startHub } = await import('../hub/index.ts');
    hub = await startHub({
      dataDir: flags.dataDir,
      host,
      port,
      store: flags.store,
      synchronous,
      sqliteWriterThread: flags.sqliteCommit === 'thread',
      version: VERSION,
      logger,
      historyRetentionMs: history * 1000,
      bookmarkIntervalMs,
      encryptionKeyFile: flags.encryptionKeyFile,
      encryptResources: flags.encryptResources?.split(',').filter((resource) => resource !== ''),
      deviceCertLifetimeSeconds,
      deviceRenewalGraceSeconds,
      leaseDurationMs,
      mqttUrl: flags.mqtt,
      mqttTlsPort,
      eventTtlMs,
      requireDeviceBounds: flags.requireDeviceBounds,
      objectQuota,
      objects: flags.objects,
    });
  } catch (error) {
    // A data dir this start made holds nothing worth keeping (a port taken in the meantime, say).
    await removeCreated(dataDir);
    throw fileError(listenError(error, host, port), dataDir.path);
  }
  // One write: whoever waits for the first line finds the broker's URL with it.
  const mqtts = hub.telemetry.tlsUrl ? `hub MQTT over TLS on ${hub.telemetry.tlsUrl}\n` : '';
  process.stdout.write(`hub listening on ${hub.url}\nadmin kubeconfig: ${hub.kubeconfigPath}\n${mqtts}`);
  const stop = () => {
    hub.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

function parseListen(listen: string): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(listen);
  if (!match) throw new CliError(`--listen must be HOST:PORT, not ${JSON.stringify(listen)}`);
  const port = Number(match[2]);
  if (port > 65535) throw new CliError(`--listen port ${port} is out of range`);
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
}

function positiveInteger(value: string, flag: string): number {
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number < 1)
    throw new CliError(`${flag} must be a whole number >= 1, not ${JSON.stringify(value)}`);
  return number;
}
