/**
 * `outpost dashboard [--port N] [--open]`: starts the dashboard's local proxy (authenticated with
 * the kubeconfig, as `kubectl proxy`), prints `dashboard: URL` and, with `--open`, opens it in the
 * desktop's browser. Runs until SIGINT or SIGTERM.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { startDashboardProxy } from './dashboard-proxy.ts';
import { CliError } from './errors.ts';
import { loadKubeconfig, resolveKubeconfigPath } from './kubeconfig.ts';

/** The options of `outpost dashboard`, as commander parses them. */
export interface DashboardFlags {
  port: string;
  open?: boolean;
  kubeconfig?: string;
  dataDir?: string;
}

/** `outpost dashboard`: serves until interrupted. */
export async function runDashboard(flags: DashboardFlags): Promise<void> {
  const port = Number(flags.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new CliError(`--port ${flags.port}: expected a port number from 0 to 65535`);
  const path =
    flags.kubeconfig ?? (flags.dataDir ? join(flags.dataDir, 'admin.kubeconfig') : resolveKubeconfigPath());
  const hub = await loadKubeconfig(path);
  const proxy = await startDashboardProxy({ hub, port }).catch((error: Error) => {
    throw new CliError(`cannot listen on 127.0.0.1:${port}: ${error.message}`);
  });
  process.stdout.write(`dashboard: ${proxy.url}\n`);
  if (flags.open) openInBrowser(proxy.url);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await proxy.close();
}

/** Opens `url` with the desktop's opener; a machine without one just has the printed URL. */
function openInBrowser(url: string): void {
  const command =
    process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  const child = spawn(command, [url], { stdio: 'ignore', detached: true });
  child.on('error', () => process.stderr.write(`dashboard: cannot start ${command}; open ${url} yourself\n`));
  child.unref();
}
