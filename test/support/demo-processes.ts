import { readdir, readFile, readlink } from 'node:fs/promises';

/**
 * Live processes of a demo run in `dir` (as `pid command line`): any whose
 * command line or working directory names the folder, or whose environment
 * carries it as OUTPOST_DEMO_DIR (npm, the demo, its children and the
 * workloads its agents run there). The caller's own process is never one.
 */
export async function demoProcesses(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const [cmdline, cwd, environ] = await Promise.all([
      readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => ''),
      readlink(`/proc/${pid}/cwd`).catch(() => ''),
      readFile(`/proc/${pid}/environ`, 'utf8').catch(() => ''),
    ]);
    if (
      cmdline.includes(dir) ||
      cwd === dir ||
      cwd.startsWith(`${dir}/`) ||
      environ.split('\0').includes(`OUTPOST_DEMO_DIR=${dir}`)
    )
      found.push(`${pid} ${cmdline.replaceAll('\0', ' ').slice(0, 200)}`);
  }
  return found;
}
