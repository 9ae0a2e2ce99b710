/**
 * Children that die with their parent. A supervisor that starts `outpost`
 * commands (the `npm start` demo) sets `OUTPOST_EXIT_WITH_PARENT=1` and
 * gives the child a pipe as stdin, which it never writes to. However the
 * parent ends — Ctrl-C, a crash, SIGKILL, a closed terminal — the kernel
 * closes its end of the pipe; the child reads end-of-file and stops as on
 * SIGTERM (the agent then stops its workloads too). Linux's
 * `PR_SET_PDEATHSIG` does the same, but node cannot call prctl.
 */

/** The variable that asks for it. */
export const EXIT_WITH_PARENT_ENV = 'OUTPOST_EXIT_WITH_PARENT';

/**
 * When `OUTPOST_EXIT_WITH_PARENT=1`: sends this process SIGTERM (once) when
 * stdin ends or fails. The variable is removed from the environment so that
 * what this process starts (workloads, with stdin of their own) does not
 * inherit it. Does not keep the process alive by itself.
 */
export function exitWithParent(env: NodeJS.ProcessEnv = process.env): void {
  if (env[EXIT_WITH_PARENT_ENV] !== '1') return;
  delete env[EXIT_WITH_PARENT_ENV];
  let sent = false;
  const stop = () => {
    if (sent) return;
    sent = true;
    process.kill(process.pid, 'SIGTERM');
  };
  const stdin = process.stdin;
  stdin.on('end', stop);
  stdin.on('error', stop);
  stdin.on('close', stop);
  // Whatever arrives is thrown away; reading is what notices the end.
  stdin.on('data', () => {});
  (stdin as { unref?: () => void }).unref?.();
}
