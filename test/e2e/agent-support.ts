/**
 * Helpers of the agent's end-to-end tests: `outpost agent` as a process, the
 * workload processes it supervises (read from its data dir and /proc), and
 * waiting for conditions with deadlines.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { type ApiClient, type HubProcess, kubectl, OUTPOST_BIN } from '../support/index.ts';

export interface AgentProcess {
  readonly dataDir: string;
  readonly process: ChildProcess;
  stderr(): string;
  /** Stops the agent (SIGTERM by default) and waits for its exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
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
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`agent did not start in 60 s: ${stderr}`));
    }, 60_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes(`agent ${options.name} running`)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`agent exited with ${code} before running: ${stderr}`));
    });
  });
  return {
    dataDir: options.dataDir,
    process: child,
    stderr: () => stderr,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
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

/** Polls `check` until it returns something truthy, or fails with `what` after `ms`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  ms = 30_000,
): Promise<T> {
  const deadline = performance.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value as T;
    } catch (error) {
      last = error;
    }
    if (performance.now() > deadline)
      throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${last}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
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
