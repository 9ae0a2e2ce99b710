/**
 * `outpost telemetry watch|get`: the values connectors send to the hub, one
 * line each: `TIME  DEVICE  NS/CONNECTOR  FEATURE  VALUE`. `watch` prints
 * the latest values, then every new one until interrupted; `get` prints the
 * latest values and exits.
 *
 * With `--connector C` it reads `.../namespaces/NS/opcuaconnectors/C/telemetry`
 * (RBAC: get `opcuaconnectors/telemetry` in NS); otherwise
 * `.../opcuaconnectors/telemetry` narrowed to NS (`-n`, default `default`) or
 * over every namespace (`-A`, which needs that access cluster-wide).
 */
import { request } from 'undici';
import { CliError } from './errors.ts';
import { openHubTransport, statusMessage } from './hub-connection.ts';

const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const GROUP_VERSION = '/apis/outpost.dev/v1alpha1';

/** The options of `outpost telemetry watch|get`, as commander parses them. */
export interface TelemetryFlags {
  device?: string;
  connector?: string;
  namespace: string;
  allNamespaces?: boolean;
  kubeconfig?: string;
  dataDir?: string;
}

/** A value as the hub serves it. */
interface TelemetryValue {
  device: string;
  namespace: string;
  connector: string;
  feature: string;
  value: unknown;
  sourceTimestamp?: string;
  receivedAt: string;
}

/** The URL path for the flags, and the connector to keep when the hub cannot narrow by it (`-A --connector`). */
export function telemetryPath(flags: TelemetryFlags, watch: boolean): { path: string; connector?: string } {
  for (const [what, value] of [
    ['device', flags.device],
    ['connector', flags.connector],
    ['namespace', flags.namespace],
  ] as const)
    if (value !== undefined && !NAME.test(value))
      throw new CliError(`${JSON.stringify(value)} is not a ${what} name`);
  const query = new URLSearchParams();
  if (flags.device) query.set('device', flags.device);
  if (watch) query.set('watch', 'true');
  if (flags.allNamespaces)
    return { path: `${GROUP_VERSION}/opcuaconnectors/telemetry?${query}`, connector: flags.connector };
  if (flags.connector)
    return {
      path: `${GROUP_VERSION}/namespaces/${flags.namespace}/opcuaconnectors/${flags.connector}/telemetry?${query}`,
    };
  query.set('namespace', flags.namespace);
  return { path: `${GROUP_VERSION}/opcuaconnectors/telemetry?${query}` };
}

/** One printed line: `TIME  DEVICE  NS/CONNECTOR  FEATURE  VALUE`. */
export function formatValue(value: TelemetryValue): string {
  const shown = typeof value.value === 'string' ? value.value : JSON.stringify(value.value);
  const time = value.sourceTimestamp ?? value.receivedAt;
  return `${time}  ${value.device}  ${value.namespace}/${value.connector}  ${value.feature}  ${shown}\n`;
}

/** `outpost telemetry watch` (`watch`) or `get`: prints values, one line each. */
export async function runTelemetry(flags: TelemetryFlags, watch: boolean): Promise<void> {
  const { path, connector } = telemetryPath(flags, watch);
  const keep = (value: TelemetryValue) => connector === undefined || value.connector === connector;
  const { server, dispatcher, headers } = await openHubTransport(flags);
  try {
    let response: Awaited<ReturnType<typeof request>>;
    try {
      response = await request(`${server}${path}`, {
        method: 'GET',
        dispatcher,
        headers: { accept: 'application/json', ...headers },
        // A watched connector may be quiet for a long time.
        bodyTimeout: 0,
      });
    } catch (cause) {
      throw new CliError(`cannot reach the hub at ${server}: ${(cause as Error).message}`);
    }
    if (response.statusCode !== 200) throw new CliError(await statusMessage(response));
    if (!watch) {
      const { items } = (await response.body.json()) as { items: TelemetryValue[] };
      process.stdout.write(items.filter(keep).map(formatValue).join(''));
      return;
    }
    let buffer = '';
    try {
      for await (const chunk of response.body) {
        buffer += (chunk as Buffer).toString('utf8');
        let newline = buffer.indexOf('\n');
        let out = '';
        while (newline >= 0) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          newline = buffer.indexOf('\n');
          if (line.trim() === '') continue;
          const value = JSON.parse(line) as TelemetryValue;
          if (keep(value)) out += formatValue(value);
        }
        if (out !== '' && !process.stdout.write(out))
          await new Promise((resolve) => process.stdout.once('drain', resolve));
      }
    } catch (cause) {
      throw new CliError(`the telemetry stream broke off: ${(cause as Error).message}`);
    }
    throw new CliError('the hub ended the telemetry stream');
  } finally {
    await dispatcher.close();
  }
}
