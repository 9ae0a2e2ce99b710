/**
 * `outpost agent` (defined in commands.ts): enrolls on the first start (the
 * token is needed once), then runs from its data dir until SIGINT or
 * SIGTERM. Workloads keep running when the agent stops (they are the
 * device's job; the next agent adopts them) unless `--stop-workloads-on-exit`.
 */
import { CliError } from './errors.ts';
import type { LogFormat } from './logger.ts';

/** The options of `outpost agent`, as commander parses them. */
export interface AgentFlags {
  dataDir: string;
  hub?: string;
  token?: string;
  proxy?: string;
  name?: string;
  labels?: string;
  runtime: string;
  stopWorkloadsOnExit: boolean;
  restartBackoff: string;
  metricsPort: string;
  metricTtl: string;
  reserveMemory: string;
  reserveDisk: string;
  cgroups: string;
  logLevel: string;
  logFormat?: LogFormat;
}

/** Checks the flags and the data dir, then runs the agent until a signal stops it, and exits. */
export async function runAgentCommand(flags: AgentFlags): Promise<void> {
  if (flags.runtime !== 'process' && flags.runtime !== 'podman')
    throw new CliError(`--runtime must be process or podman, not ${flags.runtime}`);
  const restartMs = Number(flags.restartBackoff);
  if (!Number.isFinite(restartMs) || restartMs < 10)
    throw new CliError('--restart-backoff must be a number of milliseconds (at least 10)');
  const metricsPort = flags.metricsPort === 'off' ? undefined : Number(flags.metricsPort);
  if (
    metricsPort !== undefined &&
    !(Number.isInteger(metricsPort) && metricsPort >= 0 && metricsPort <= 65535)
  )
    throw new CliError(
      `--metrics-port must be a port number (0 for any free port) or off, not ${flags.metricsPort}`,
    );
  const metricTtlSeconds = (await import('./duration.ts')).parseDuration(flags.metricTtl, '--metric-ttl');
  const { parseReserve } = await import('../agent/index.ts');
  const reserve = (text: string, flag: string) => {
    try {
      return parseReserve(text);
    } catch (error) {
      throw new CliError(`${flag}: ${(error as Error).message}`);
    }
  };
  const reserveMemory = reserve(flags.reserveMemory, '--reserve-memory');
  const reserveDisk = reserve(flags.reserveDisk, '--reserve-disk');
  if (flags.cgroups !== 'auto' && flags.cgroups !== 'off')
    throw new CliError(`--cgroups must be auto or off, not ${flags.cgroups}`);
  if (flags.hub !== undefined && !/^https:\/\/[^/]+/.test(flags.hub))
    throw new CliError(
      `--hub must be the hub's https:// URL, such as https://hub.example:6443, not ${JSON.stringify(flags.hub)}`,
    );
  // Read (commander took it as --token's default): nothing the agent starts inherits it.
  delete process.env.OUTPOST_TOKEN;
  const [{ checkProxyUrl }, { splitTokenProxy }] = await Promise.all([
    import('../agent/index.ts'),
    import('../util/index.ts'),
  ]);
  // A token made with --parent carries the parent's proxy; --proxy says it outright and wins.
  const given = flags.token ? splitTokenProxy(flags.token) : undefined;
  let proxy: string | undefined;
  try {
    const text = flags.proxy ?? given?.proxy;
    proxy = text === undefined ? undefined : checkProxyUrl(text);
  } catch (error) {
    throw new CliError(`${flags.proxy !== undefined ? '--proxy' : '--token'}: ${(error as Error).message}`);
  }
  // V8 flags: set before the CLI's modules loaded (agent-v8-flags.ts, imported first by main.ts).
  // Loaded only now, and only what runs: the agent's memory on a device (see agent-memory in docs/benchmarks.md).
  const labels = flags.labels ? (await import('./token-command.ts')).parseLabels(flags.labels) : undefined;
  const { prepareDataDir, fileError } = await import('./data-dir.ts');
  await prepareDataDir(flags.dataDir);
  const dataDir = flags.dataDir;
  const [{ createLogger }, { runAgent }] = await Promise.all([
    import('./logger.ts'),
    import('../agent/index.ts'),
  ]);
  const log = createLogger({ level: flags.logLevel, format: flags.logFormat });
  const controller = new AbortController();
  // `on`, not `once`: a second signal while the agent stops its workloads must not kill it halfway.
  const stop = () => controller.abort();
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    await runAgent(
      {
        dataDir,
        ...(flags.hub ? { hubUrl: flags.hub } : {}),
        ...(given ? { token: given.token } : {}),
        ...(proxy ? { hubProxy: proxy } : {}),
        ...(flags.name ? { name: flags.name } : {}),
        ...(labels ? { labels } : {}),
        runtime: flags.runtime,
        stopWorkloadsOnExit: flags.stopWorkloadsOnExit,
        restart: { initialMs: restartMs },
        ...(metricsPort !== undefined ? { metricsPort } : {}),
        metricTtlMs: metricTtlSeconds * 1000,
        reserveMemory,
        reserveDisk,
        cgroups: flags.cgroups,
        log,
        onReady: ({ name }) => process.stdout.write(`agent ${name} running\n`),
      },
      controller.signal,
    );
  } catch (error) {
    throw fileError(error, dataDir);
  }
  process.exit(0);
}
