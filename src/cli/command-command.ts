/**
 * `outpost command send CONNECTOR FEATURE VALUE`: writes a value through a
 * connector (an OPC UA write on the device that runs it) and prints the
 * connector's acknowledgement, or the hub's error (unknown connector or
 * feature, several devices and none named, no acknowledgement in time, the
 * OPC UA status code that refused the write) with exit code 1.
 *
 * VALUE is parsed as JSON when it parses (`55`, `true`, `"55"`), else taken
 * as a string.
 */
import { CliError } from './errors.ts';
import { connectToHub } from './hub-connection.ts';

const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** The options of `outpost command send`, as commander parses them. */
export interface SendFlags {
  device?: string;
  namespace: string;
  kubeconfig?: string;
  dataDir?: string;
}

interface Ack {
  id: string;
  ok: boolean;
  statusCode: string;
  device: string;
}

/** `outpost command send CONNECTOR FEATURE VALUE`: writes the value and prints the acknowledgement. */
export async function runCommandSend(
  connector: string,
  feature: string,
  raw: string,
  flags: SendFlags,
): Promise<void> {
  for (const [what, value] of [
    ['connector', connector],
    ['namespace', flags.namespace],
    ['device', flags.device],
  ] as const)
    if (value !== undefined && !NAME.test(value))
      throw new CliError(`${JSON.stringify(value)} is not a ${what} name`);
  const value = parseValue(raw);
  const hub = await connectToHub(flags);
  let ack: Ack;
  try {
    ack = await hub.call<Ack>(
      'POST',
      `/apis/outpost.dev/v1alpha1/namespaces/${flags.namespace}/opcuaconnectors/${connector}/commands`,
      { feature, value, ...(flags.device ? { device: flags.device } : {}) },
    );
  } finally {
    await hub.close();
  }
  process.stdout.write(
    `${ack.device} acknowledged ${flags.namespace}/${connector} ${feature} = ${JSON.stringify(value)}: ${ack.statusCode}\n`,
  );
}

/** VALUE as JSON when it parses, else the string itself. */
export function parseValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}
