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
import type { Command } from 'commander';
import { CliError } from './errors.ts';
import { connectToHub } from './hub-connection.ts';

const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

interface SendFlags {
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

/** `outpost command ...`. */
export function registerCommandCommand(program: Command): void {
  const command = program.command('command').description('write values through connectors');
  command
    .command('send')
    .description("write VALUE to a connector's FEATURE and print the acknowledgement")
    .argument('<connector>', 'the OpcUaConnector')
    .argument('<feature>', 'one of its subscriptions (e.g. setpoint)')
    .argument('<value>', 'the value: JSON when it parses (55, true, "text"), else a string')
    .option('--device <name>', 'the device (needed when several run the connector)')
    .option('-n, --namespace <namespace>', "the connector's namespace", 'default')
    .option('--kubeconfig <path>', 'kubeconfig (default: $KUBECONFIG or ~/.kube/config)')
    .option('--data-dir <dir>', "the hub's data dir: use DIR/admin.kubeconfig")
    .action(async (connector: string, feature: string, raw: string, flags: SendFlags) => {
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
    });
}

/** VALUE as JSON when it parses, else the string itself. */
export function parseValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}
