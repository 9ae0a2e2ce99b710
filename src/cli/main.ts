// First: sets `outpost agent`'s V8 flags before any other module loads (see the module).
import './agent-v8-flags.ts';
import { Command, CommanderError } from 'commander';
import { VERSION } from '../version.ts';
import { defineCommands } from './commands.ts';
import { CliError } from './errors.ts';
import { exitWithParent } from './parent-watch.ts';

/**
 * The `outpost` command: parses arguments, runs a subcommand, turns failures
 * into one line. Only commander and the commands' definitions load before a
 * command runs (help and usage errors answer at once); each command's action
 * loads its own modules, so `outpost token create` starts without the hub,
 * and the agent without the hub's code (memory on a device).
 */
export async function main(argv: readonly string[]): Promise<void> {
  exitWithParent();
  // A reader that went away (`outpost ... | head`, a parent that died) is no reason for a stack trace.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
  const program = new Command('outpost')
    .description('Outpost: a control plane for edge workloads')
    .version(VERSION)
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');
  defineCommands(program);
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) process.exit(error.exitCode);
    process.stderr.write(`outpost: ${await describe(error)}\n`);
    process.exit(error instanceof CliError ? error.exitCode : 1);
  }
}

async function describe(error: unknown): Promise<string> {
  if (error instanceof CliError) return error.message;
  // Loaded only on this path: the kubeconfig reader is not light.
  const { KubeconfigError } = await import('./kubeconfig.ts');
  if (error instanceof KubeconfigError) return error.message;
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return `${error.message}${cause}`.split('\n')[0]!;
  }
  return String(error);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await main(process.argv.slice(2));
}
