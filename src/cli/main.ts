import { Command, CommanderError } from 'commander';
import { VERSION } from '../version.ts';
import { CliError } from './errors.ts';
import { registerAgentCommand } from './agent-command.ts';
import { registerDeviceCommand } from './device-command.ts';
import { registerHubCommand } from './hub-command.ts';
import { KubeconfigError } from './kubeconfig.ts';
import { registerStoreCommand } from './store-command.ts';
import { registerTokenCommand } from './token-command.ts';
import { registerUserCommand } from './user-command.ts';

/** The `outpost` command: parses arguments, runs a subcommand, turns failures into one line. */
export async function main(argv: readonly string[]): Promise<void> {
  const program = new Command('outpost')
    .description('Outpost: a control plane for edge workloads')
    .version(VERSION)
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');
  registerHubCommand(program);
  registerAgentCommand(program);
  registerTokenCommand(program);
  registerDeviceCommand(program);
  registerUserCommand(program);
  registerStoreCommand(program);
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
