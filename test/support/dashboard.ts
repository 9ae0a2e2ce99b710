/** The dashboard's local proxy as a user starts it: `outpost dashboard`. */
import { type HubProcess, OUTPOST_BIN } from './hub-process.ts';
import { type StartedProcess, startProcess } from './process.ts';

/** A running `outpost dashboard`. */
export interface DashboardProcess extends StartedProcess {
  /** The printed URL: `http://127.0.0.1:PORT/ui/`. */
  readonly url: string;
  /** `http://127.0.0.1:PORT` */
  readonly origin: string;
}

/** Starts `outpost dashboard` with a kubeconfig (the hub's admin one by default) and waits for its URL. */
export async function startDashboard(
  hub: Pick<HubProcess, 'kubeconfig'>,
  kubeconfig: string = hub.kubeconfig,
): Promise<DashboardProcess> {
  const started = await startProcess({
    what: 'outpost dashboard',
    readyMeans: 'its URL',
    args: [OUTPOST_BIN, 'dashboard', '--kubeconfig', kubeconfig],
    ready: (stdout) => /dashboard: (http:\/\/\S+)/.exec(stdout)?.[1],
  });
  return { ...started, url: started.ready, origin: new URL(started.ready).origin };
}
