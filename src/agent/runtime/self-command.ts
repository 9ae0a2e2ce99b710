/**
 * How the process runtime runs a container whose command is `outpost`: the
 * agent's own CLI, i.e. the node executable running the agent with the
 * script it runs (and the node options it needs, such as `--import tsx` when
 * the agent runs from the TypeScript sources). So a workload rendered for
 * the container image (where `/usr/local/bin/outpost` exists, e.g. the OPC UA
 * connector) runs unchanged as a host process, with the agent's version.
 */

/** Node options of the agent that a child `outpost` must not inherit (debuggers, the test runner, watch mode). */
const NOT_INHERITED = /^--(inspect|debug|test|watch|prof|cpu-prof|heap-prof)/;

/** The argv prefix that runs the agent's own `outpost` CLI. */
export function selfCommand(): string[] {
  const script = process.argv[1];
  const execArgv = absoluteImports(process.execArgv.filter((arg) => !NOT_INHERITED.test(arg)));
  return script ? [process.execPath, ...execArgv, script] : [process.execPath];
}

/**
 * `--import tsx` resolved to the module's file: node resolves a bare
 * `--import` from the working folder, and a container's (its own folder, in
 * its own view of the file system) holds no node_modules.
 */
function absoluteImports(execArgv: readonly string[]): string[] {
  return execArgv.map((arg, index) => {
    const previous = execArgv[index - 1];
    if ((previous !== '--import' && previous !== '--loader') || /^(\.|\/|file:|data:)/.test(arg)) return arg;
    try {
      return import.meta.resolve(arg);
    } catch {
      return arg;
    }
  });
}

/** `argv` with a leading `outpost` replaced by `outpost` (the argv prefix that runs it). */
export function resolveOutpost(argv: readonly string[], outpost: readonly string[]): string[] {
  return argv[0] === 'outpost' ? [...outpost, ...argv.slice(1)] : [...argv];
}
