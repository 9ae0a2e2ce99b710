// First: sets `outpost agent`'s V8 flags before any other module loads (see the module).
import './agent-v8-flags.ts';
import { Command, CommanderError } from 'commander';
import { VERSION } from '../version.ts';
import { CliError } from './errors.ts';
import { KubeconfigError } from './kubeconfig.ts';

type Register = (program: Command) => void;

/**
 * Each subcommand's module, loaded only when that subcommand runs: `outpost token create`
 * starts without loading the hub, and the agent without the hub's code (memory on a device).
 */
const COMMANDS: Record<string, () => Promise<Register>> = {
  hub: async () => (await import('./hub-command.ts')).registerHubCommand,
  agent: async () => (await import('./agent-command.ts')).registerAgentCommand,
  token: async () => (await import('./token-command.ts')).registerTokenCommand,
  device: async () => (await import('./device-command.ts')).registerDeviceCommand,
  user: async () => (await import('./user-command.ts')).registerUserCommand,
  store: async () => (await import('./store-command.ts')).registerStoreCommand,
  logs: async () => (await import('./logs-command.ts')).registerLogsCommand,
  telemetry: async () => (await import('./telemetry-command.ts')).registerTelemetryCommand,
  command: async () => (await import('./command-command.ts')).registerCommandCommand,
  'plc-sim': async () => (await import('./opcua-command.ts')).registerPlcSimCommand,
  'opcua-connector': async () => (await import('./opcua-command.ts')).registerOpcUaConnectorCommand,
};

/** The `outpost` command: parses arguments, runs a subcommand, turns failures into one line. */
export async function main(argv: readonly string[]): Promise<void> {
  const program = new Command('outpost')
    .description('Outpost: a control plane for edge workloads')
    .version(VERSION)
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');
  // The first word that is not an option names the subcommand; help and unknown words load all.
  const named = argv.find((arg) => !arg.startsWith('-'));
  const wanted = named !== undefined && named in COMMANDS ? [named] : Object.keys(COMMANDS);
  for (const name of wanted) (await COMMANDS[name]!())(program);
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) process.exit(error.exitCode);
    process.stderr.write(`outpost: ${describe(error)}\n`);
    process.exit(error instanceof CliError ? error.exitCode : 1);
  }
}

function describe(error: unknown): string {
  if (error instanceof CliError || error instanceof KubeconfigError) return error.message;
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return `${error.message}${cause}`.split('\n')[0]!;
  }
  return String(error);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await main(process.argv.slice(2));
}
