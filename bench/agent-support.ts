/**
 * Shared parts of the agent benchmarks (agent-memory, agent-latency): the
 * compiled CLI, an `outpost hub` process, enrolled `outpost agent` processes
 * with chosen node flags, Workloads placed on them, and reading a process's
 * memory from `/proc`.
 *
 * The agent runs compiled, as it is shipped (`npm run build`): through tsx
 * the loader alone costs tens of MB. The build goes to `tmp/agent-bench/`
 * (ignored by git), incrementally, so the tree's `dist/` (which
 * `bin/outpost.js` prefers when present) is never touched.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Agent, request } from 'undici';
import YAML from 'yaml';
import {
  type ApiClient,
  apiClient,
  type HubProcess,
  ROOT,
  run,
  type StartedProcess,
  startHubProcess,
  startProcess,
  tempDir,
  waitFor,
} from '../test/support/index.ts';

/**
 * Where the benchmarks' build lives; `package.json` beside it because `version.ts` reads `../package.json`,
 * and `src/api/kubernetes/definitions.json` as `definitions.ts` reads it.
 */
const BUILD_ROOT = join(ROOT, 'tmp', 'agent-bench');

/**
 * Compiles `src/` into `tmp/agent-bench/build` (incremental) and returns the
 * compiled CLI. Type errors of work in progress elsewhere in the tree are
 * reported but do not stop the benchmark: tsc emits anyway.
 */
export function buildCli(): string {
  const out = join(BUILD_ROOT, 'build');
  mkdirSync(out, { recursive: true });
  copyFileSync(join(ROOT, 'package.json'), join(BUILD_ROOT, 'package.json'));
  // The data files the build reads as the repository's own builds do (`src/api/kubernetes/definitions.ts`).
  const definitions = join('src', 'api', 'kubernetes', 'definitions.json');
  mkdirSync(dirname(join(BUILD_ROOT, definitions)), { recursive: true });
  copyFileSync(join(ROOT, definitions), join(BUILD_ROOT, definitions));
  const tsc = spawnSync(
    process.execPath,
    [
      join(ROOT, 'node_modules/typescript/bin/tsc'),
      '-p',
      join(ROOT, 'tsconfig.build.json'),
      '--outDir',
      out,
      '--incremental',
      '--tsBuildInfoFile',
      join(out, '.tsbuildinfo'),
    ],
    { encoding: 'utf8' },
  );
  if (tsc.status !== 0)
    console.error(
      `(tsc reported errors, testing what it emitted)\n${tsc.stdout.split('\n').slice(0, 5).join('\n')}`,
    );
  return join(out, 'cli', 'main.js');
}

/** Starts `outpost hub` (compiled CLI `bin`) on a free port. */
export async function startHub(bin: string, args: readonly string[] = []): Promise<HubProcess> {
  return startHubProcess({ bin, args, dataDir: await tempDir('outpost-bench-hub-') });
}

/** `outpost token create --labels ...` against `hub`; returns the token. */
export async function createToken(bin: string, hub: HubProcess, labels: string): Promise<string> {
  const result = await run(process.execPath, [
    bin,
    'token',
    'create',
    '--labels',
    labels,
    '--data-dir',
    hub.dataDir,
  ]);
  if (result.code !== 0) throw new Error(`token create failed: ${result.stderr}`);
  return result.stdout.trim();
}

/** An `outpost agent` process. */
export interface BenchAgent extends StartedProcess {
  readonly dataDir: string;
  readonly name: string;
}

/**
 * Starts `node NODE_FLAGS bin agent ...` and waits for its `agent NAME running`
 * line. `env` is added to this process's environment (e.g. `NODE_OPTIONS`).
 */
export async function startAgent(options: {
  bin: string;
  hub: HubProcess;
  name: string;
  dataDir: string;
  token?: string;
  nodeFlags?: readonly string[];
  args?: readonly string[];
  env?: NodeJS.ProcessEnv;
}): Promise<BenchAgent> {
  const args = [
    ...(options.nodeFlags ?? []),
    options.bin,
    'agent',
    '--hub',
    options.hub.url,
    '--data-dir',
    options.dataDir,
    '--name',
    options.name,
    '--log-level',
    'warn',
    ...(options.token ? ['--token', options.token] : []),
    ...(options.args ?? []),
  ];
  const started = await startProcess({
    what: 'agent',
    readyMeans: 'running',
    args,
    env: options.env,
    ready: (stdout) => (stdout.includes(`agent ${options.name} running`) ? true : undefined),
    stopGraceMs: 15_000,
  });
  return { ...started, dataDir: options.dataDir, name: options.name };
}

/** A Workload of one single-replica Deployment running `command` (the process runtime runs it on the host). */
export function benchWorkload(
  namespace: string,
  name: string,
  options: {
    command: readonly string[];
    env?: Record<string, string>;
    labels?: Record<string, string>;
    /** A host folder shown at `mountPath` (podman; the namespace must allow hostPath). */
    hostPath?: { path: string; mountPath: string };
  },
) {
  return {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Workload',
    metadata: { name, namespace, labels: options.labels ?? { bench: 'agent' } },
    spec: {
      resources: [
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name },
          spec: {
            replicas: 1,
            selector: { matchLabels: { app: name } },
            template: {
              metadata: { labels: { app: name } },
              spec: {
                terminationGracePeriodSeconds: 1,
                containers: [
                  {
                    name: 'main',
                    image: 'localhost/busybox:latest',
                    command: [...options.command],
                    env: Object.entries(options.env ?? {}).map(([key, value]) => ({ name: key, value })),
                    ...(options.hostPath
                      ? { volumeMounts: [{ name: 'marker', mountPath: options.hostPath.mountPath }] }
                      : {}),
                  },
                ],
                ...(options.hostPath
                  ? { volumes: [{ name: 'marker', hostPath: { path: options.hostPath.path } }] }
                  : {}),
              },
            },
          },
        },
      ],
    },
  };
}

/** A Placement of the Workloads labelled `bench=<workloads>` in `namespace` on the devices labelled `site=<site>`. */
export function benchPlacement(namespace: string, site = 'bench', workloads = 'agent') {
  return {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Placement',
    metadata: { name: `bench-${site}`, namespace },
    spec: {
      workloadSelector: { matchLabels: { bench: workloads } },
      deviceSelector: { matchLabels: { site } },
    },
  };
}

/** Creates (POST) an object of the outpost.dev group or a namespace; throws unless 201. */
export async function create(api: ApiClient, object: { kind: string; metadata: { namespace?: string } }) {
  const path =
    object.kind === 'Namespace'
      ? '/api/v1/namespaces'
      : `/apis/outpost.dev/v1alpha1/namespaces/${object.metadata.namespace}/${object.kind.toLowerCase()}s`;
  const response = await api.request('POST', path, { body: object });
  if (response.status !== 201) throw new Error(`POST ${path}: ${response.status} ${response.text}`);
}

interface MailboxJson {
  spec?: { objects?: Array<{ hash: string; object: { kind: string; metadata: { name: string } } }> };
  status?: {
    objects?: Array<{
      ref: { kind: string; name: string };
      observedHash?: string;
      phase: string;
      ready?: boolean;
    }>;
  };
}

/** How many of the Mailbox's objects the agent reports Running and ready for their current content. */
export async function runningCount(api: ApiClient, device: string): Promise<number> {
  const response = await api.request('GET', `/apis/outpost.dev/v1alpha1/mailboxes/${device}`);
  if (response.status !== 200) return 0;
  const mailbox = response.json() as MailboxJson;
  let count = 0;
  for (const entry of mailbox.spec?.objects ?? []) {
    const status = mailbox.status?.objects?.find(
      (s) => s.ref.kind === entry.object.kind && s.ref.name === entry.object.metadata.name,
    );
    if (status?.observedHash === entry.hash && status.phase === 'Running' && status.ready) count++;
  }
  return count;
}

/** Waits until `count` objects of `device`'s Mailbox are reported running. */
export async function waitRunning(api: ApiClient, device: string, count: number): Promise<void> {
  await waitFor(
    `${count} workloads running on ${device}`,
    async () => ((await runningCount(api, device)) >= count ? true : undefined),
    120_000,
    250,
  );
}

/** Memory of a process from `/proc/PID/status`, in bytes: resident (anonymous + file-backed) and its peak. */
export interface ProcessMemory {
  readonly rss: number;
  readonly anon: number;
  readonly file: number;
  readonly peak: number;
}

/** Reads a process's memory from `/proc/PID/status` (VmRSS, RssAnon, RssFile, VmHWM). */
export function memoryOf(pid: number): ProcessMemory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile'), peak: kb('VmHWM') };
}

export { type ApiClient, apiClient, type HubProcess };

/** A watch of one Mailbox as the admin sees it: `onObject` gets the Mailbox of every event. */
export async function watchMailbox(
  kubeconfig: string,
  device: string,
  onObject: (mailbox: Record<string, unknown>) => void,
): Promise<{ close(): Promise<void> }> {
  const config = YAML.parse(readFileSync(kubeconfig, 'utf8'));
  const decode = (data: string) => Buffer.from(data, 'base64').toString('utf8');
  const dispatcher = new Agent({
    connect: {
      ca: decode(config.clusters[0].cluster['certificate-authority-data']),
      cert: decode(config.users[0].user['client-certificate-data']),
      key: decode(config.users[0].user['client-key-data']),
    },
  });
  const controller = new AbortController();
  const response = await request(
    `${config.clusters[0].cluster.server}/apis/outpost.dev/v1alpha1/mailboxes?watch=1&fieldSelector=metadata.name=${device}`,
    { dispatcher, signal: controller.signal, bodyTimeout: 0 },
  );
  const reading = (async () => {
    let pending = '';
    for await (const chunk of response.body) {
      pending += (chunk as Buffer).toString('utf8');
      for (let newline = pending.indexOf('\n'); newline >= 0; newline = pending.indexOf('\n')) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (line.trim()) onObject((JSON.parse(line) as { object: Record<string, unknown> }).object);
      }
    }
  })().catch(() => {});
  return {
    async close() {
      controller.abort();
      await reading;
      await dispatcher.close();
    },
  };
}
