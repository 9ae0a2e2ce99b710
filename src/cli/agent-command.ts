import type { Command } from 'commander';
import { CliError } from './errors.ts';

/**
 * `outpost agent`: enrolls on the first start (the token is needed once),
 * then runs from its data dir until SIGINT or SIGTERM. Workloads keep
 * running when the agent stops (they are the device's job; the next agent
 * adopts them) unless `--stop-workloads-on-exit`.
 */
export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description('run the edge agent: enroll, then sync, run and report what the hub places on this device')
    .requiredOption(
      '--data-dir <dir>',
      'where the agent keeps its credentials, local Mailbox copy, outbox and workloads',
    )
    .option('--hub <url>', 'the hub, e.g. https://hub.example:6443 (needed until the device has enrolled)')
    .option('--token <token>', 'bootstrap token <id>.<secret> (needed until the device has enrolled)')
    .option('--name <name>', "the device's name (default: the host name)")
    .option(
      '--labels <k=v,...>',
      "the device's labels, asked for at enrollment: the bootstrap token must allow each (token create --allow-labels) or set it to the same value, else the enrollment is refused",
    )
    .option('--runtime <runtime>', 'how workloads run: process or podman', 'process')
    .option('--stop-workloads-on-exit', 'stop every workload when the agent stops', false)
    .option('--restart-backoff <ms>', 'first restart delay of a crashed process (process runtime)', '1000')
    .option('--log-level <level>', 'log level: debug, info, warn, error', 'info')
    .action(
      async (options: {
        dataDir: string;
        hub?: string;
        token?: string;
        name?: string;
        labels?: string;
        runtime: string;
        stopWorkloadsOnExit: boolean;
        restartBackoff: string;
        logLevel: string;
      }) => {
        if (options.runtime !== 'process' && options.runtime !== 'podman')
          throw new CliError(`--runtime must be process or podman, not ${options.runtime}`);
        const restartMs = Number(options.restartBackoff);
        if (!Number.isFinite(restartMs) || restartMs < 10)
          throw new CliError('--restart-backoff must be a number of milliseconds (at least 10)');
        // V8 flags: set before the CLI's modules loaded (agent-v8-flags.ts, imported first by main.ts).
        // Loaded only now, and only what runs: the agent's memory on a device (see agent-memory in docs/benchmarks.md).
        const labels = options.labels
          ? (await import('./token-command.ts')).parseLabels(options.labels)
          : undefined;
        const [{ default: pino }, { runAgent }] = await Promise.all([
          import('pino'),
          import('../agent/index.ts'),
        ]);
        const log = pino({ level: options.logLevel }, pino.destination(2));
        const controller = new AbortController();
        const stop = () => controller.abort();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        await runAgent(
          {
            dataDir: options.dataDir,
            ...(options.hub ? { hubUrl: options.hub } : {}),
            ...(options.token ? { token: options.token } : {}),
            ...(options.name ? { name: options.name } : {}),
            ...(labels ? { labels } : {}),
            runtime: options.runtime,
            stopWorkloadsOnExit: options.stopWorkloadsOnExit,
            restart: { initialMs: restartMs },
            log,
            onReady: ({ name }) => process.stdout.write(`agent ${name} running\n`),
          },
          controller.signal,
        );
        process.exit(0);
      },
    );
}
