/**
 * `outpost logs DEVICE WORKLOAD`: a workload's output on one device, fetched
 * through the hub (the device's agent serves it on its own connection to the
 * hub). Asks `GET .../namespaces/NS/workloads/NAME/log?device=DEVICE`, which
 * RBAC authorises as the `workloads/log` subresource, and copies the text
 * to stdout; with `-f` it keeps printing until interrupted.
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
  } finally {
    await dispatcher.close();
  }
}
