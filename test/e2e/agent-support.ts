/**
 * Helpers of the agent's end-to-end tests: `outpost agent` as a process, the
 * workload processes it supervises (read from its data dir and /proc), and
 * waiting for conditions with deadlines.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import {
  type ApiClient,
  type HubProcess,
  kubectl,
  OUTPOST_BIN,
  type StartedProcess,
  startProcess,
} from '../support/index.ts';

/** An `outpost agent` process; `stop` sends SIGTERM (by default), then SIGKILL after 10 s. */
export interface AgentProcess extends StartedProcess {
  readonly dataDir: string;
}

/** Starts `outpost agent` and waits for its `agent NAME running` line. */
export async function startAgent(options: {
  hubUrl: string;
  token?: string;
  dataDir: string;
  name: string;
  args?: readonly string[];
  env?: NodeJS.ProcessEnv;
}): Promise<AgentProcess> {
  const args = [
    OUTPOST_BIN,
    'agent',
    '--hub',
    options.hubUrl,
    '--data-dir',
    options.dataDir,
    '--name',
    options.name,
  ];
  if (options.token) args.push('--token', options.token);
  args.push('--restart-backoff', '200', ...(options.args ?? []));
  const started = await startProcess({
    what: 'agent',
    readyMeans: 'running',
    args,
    env: options.env,
    ready: (stdout) => (stdout.includes(`agent ${options.name} running`) ? true : undefined),
    stopGraceMs: 10_000,
  });
  return { dataDir: options.dataDir, process: started.process, stderr: started.stderr, stop: started.stop };
}

/** One supervised container process as recorded in the agent's data dir. */
export interface WorkloadProcess {
  readonly unit: string;
  readonly replica: string;
  readonly container: string;
  readonly pid: number;
  readonly logPath: string;
}

/** Every container process the process runtime recorded under `dataDir`. */
export function recordedProcesses(dataDir: string): WorkloadProcess[] {
  const found: WorkloadProcess[] = [];
  const unitsDir = join(dataDir, 'process', 'units');
  for (const unit of list(unitsDir)) {
    for (const replica of list(join(unitsDir, unit, 'replicas'))) {
      for (const container of list(join(unitsDir, unit, 'replicas', replica))) {
        const dir = join(unitsDir, unit, 'replicas', replica, container);
        try {
          const { pid } = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { pid: number };
          found.push({ unit, replica, container, pid, logPath: join(dir, 'output.log') });
        } catch {
          // not a container folder (work/, empty/) or not started
        }
      }
    }
  }
  return found;
}

/** Process groups on the machine whose environment names `unit` (OUTPOST_UNIT): what really runs. */
export function liveGroupsOf(unit: string): Set<number> {
  const groups = new Set<number>();
  for (const entry of list('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, 'utf8');
      if (!environ.split('\0').includes(`OUTPOST_UNIT=${unit}`)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z') continue;
      groups.add(Number(fields[2]));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return groups;
}

/** Whether `pid` runs (zombies count as gone). */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

/** Kills every workload process group recorded under `dataDir` (test cleanup). */
export function killWorkloads(dataDir: string): void {
  for (const { pid } of recordedProcesses(dataDir)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** A Placement putting the Workloads labelled `app` on the devices labelled `site`. */
export function placementOf(namespace: string, name: string, selects: { app: string; site: string }) {
  return {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Placement',
    metadata: { name, namespace },
    spec: {
      workloadSelector: { matchLabels: { app: selects.app } },
      deviceSelector: { matchLabels: { site: selects.site } },
    },
  };
}

/** `kubectl apply` of objects given as JSON. */
export async function apply(hub: Pick<HubProcess, 'kubeconfig'>, ...objects: unknown[]): Promise<void> {
  const documents = objects.map((object) => YAML.stringify(object)).join('---\n');
  const result = await kubectl(hub, ['apply', '-f', '-'], documents);
  if (result.code !== 0) throw new Error(`kubectl apply failed: ${result.stderr}`);
}

/** The device's Mailbox as the admin sees it. */
export async function getMailbox(api: ApiClient, name: string): Promise<MailboxJson | undefined> {
  const response = await api.request('GET', `/apis/outpost.dev/v1alpha1/mailboxes/${name}`);
  return response.status === 200 ? (response.json() as MailboxJson) : undefined;
}

export interface MailboxJson {
  metadata: { resourceVersion: string; generation?: number };
  spec?: { objects?: Array<{ hash: string; object: { kind: string; metadata: { name: string } } }> };
  status?: {
    objects?: Array<{
      ref: { kind: string; name: string };
      observedHash?: string;
      phase: string;
      ready?: boolean;
      restarts?: number;
      reason?: string;
      exitCode?: number;
    }>;
  };
}

/** The reported status of the object `kind/name`, when it is about the Mailbox's current content. */
export function currentStatus(mailbox: MailboxJson | undefined, kind: string, name: string) {
  const entry = mailbox?.spec?.objects?.find(
    (o) => o.object.kind === kind && o.object.metadata.name === name,
  );
  const status = mailbox?.status?.objects?.find((s) => s.ref.kind === kind && s.ref.name === name);
  return entry && status && status.observedHash === entry.hash ? status : undefined;
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
