/**
 * `outpost logs DEVICE WORKLOAD`: a workload's output on one device, fetched
 * through the hub (the device's agent serves it on its own connection to the
 * hub). Asks `GET .../namespaces/NS/workloads/NAME/log?device=DEVICE`, which
 * RBAC authorises as the `workloads/log` subresource, and copies the text
 * to stdout; with `-f` it keeps printing until interrupted. A cron
 * Workload's past runs: `--previous` (the last finished) or `--run N`; the
 * run, its phase and exit code go to stderr after the output.
 */
import { request } from 'undici';
import { CliError } from './errors.ts';
import { openHubTransport, statusMessage } from './hub-connection.ts';

const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** The options of `outpost logs`, as commander parses them. */
export interface LogsFlags {
  namespace: string;
  container?: string;
  tail?: string;
  follow?: boolean;
  previous?: boolean;
  run?: string;
  kubeconfig?: string;
  dataDir?: string;
}

/** `outpost logs DEVICE WORKLOAD`: checks the names, then copies the workload's output to stdout. */
export async function runLogs(device: string, workload: string, flags: LogsFlags): Promise<void> {
  for (const [what, value] of [
    ['device', device],
    ['workload', workload],
    ['namespace', flags.namespace],
  ] as const)
    if (!NAME.test(value)) throw new CliError(`${JSON.stringify(value)} is not a ${what} name`);
  const query = new URLSearchParams({ device });
  if (flags.container !== undefined) query.set('container', flags.container);
  if (flags.tail !== undefined) {
    if (!/^\d+$/.test(flags.tail))
      throw new CliError(`--tail must be a whole number of lines, not ${JSON.stringify(flags.tail)}`);
    query.set('tailLines', flags.tail);
  }
  if (flags.follow) query.set('follow', 'true');
  if (flags.previous && flags.run !== undefined)
    throw new CliError('--previous and --run exclude each other');
  if (flags.previous) query.set('previous', 'true');
  if (flags.run !== undefined) {
    if (!/^[1-9]\d*$/.test(flags.run))
      throw new CliError(`--run must be a run number (1, 2, ...), not ${JSON.stringify(flags.run)}`);
    query.set('run', flags.run);
  }
  const path = `/apis/outpost.dev/v1alpha1/namespaces/${flags.namespace}/workloads/${workload}/log?${query}`;
  await printLogs(flags, path);
}

async function printLogs(flags: LogsFlags, path: string): Promise<void> {
  const { server, dispatcher, headers } = await openHubTransport(flags);
  try {
    let response: Awaited<ReturnType<typeof request>>;
    try {
      response = await request(`${server}${path}`, {
        method: 'GET',
        dispatcher,
        headers: {
          accept: 'text/plain, application/json',
          ...headers,
        },
        // A followed log may be quiet for hours.
        bodyTimeout: 0,
      });
    } catch (cause) {
      throw new CliError(`cannot reach the hub at ${server}: ${(cause as Error).message}`);
    }
    if (response.statusCode !== 200) throw new CliError(await statusMessage(response));
    try {
      for await (const chunk of response.body) {
        if (!process.stdout.write(chunk as Buffer))
          await new Promise((resolve) => process.stdout.once('drain', resolve));
      }
    } catch (cause) {
      throw new CliError(`the log stream broke off: ${(cause as Error).message}`);
    }
    const run = response.headers['outpost-cron-run'];
    if (typeof run === 'string') process.stderr.write(`${describeRun(run)}\n`);
  } finally {
    await dispatcher.close();
  }
}

/** One line about a cron run, from the hub's `Outpost-Cron-Run` header. */
function describeRun(header: string): string {
  try {
    const run = JSON.parse(header) as {
      run: number;
      phase: string;
      scheduledTime: string;
      exitCode?: number;
      completionTime?: string;
    };
    return [
      `run ${run.run} scheduled ${run.scheduledTime}: ${run.phase}`,
      ...(run.exitCode !== undefined ? [`exit code ${run.exitCode}`] : []),
      ...(run.completionTime ? [`finished ${run.completionTime}`] : []),
    ].join(', ');
  } catch {
    return `run: ${header}`;
  }
}
