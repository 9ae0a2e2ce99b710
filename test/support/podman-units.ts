/**
 * The podman runtime's own tests, as units: a runtime on a fresh data dir
 * (closed, stopping its units, after the file's tests), busybox units, and
 * what podman says of them. Every runtime has its own data dir, hence its
 * own owner label: runtimes side by side never see each other's pods.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type ActualUnit,
  createPodmanRuntime,
  type DesiredUnit,
  type PodmanRuntimeOptions,
  type Runtime,
  unitIdOf,
} from '../../src/agent/runtime/index.ts';
import type { ConfigMap, KubeObject, Secret } from '../../src/api/index.ts';
import { PODMAN_TEST_IMAGE as IMAGE, type PodmanTestEnvironment } from './podman-test-environment.ts';
import { waitFor as poll } from './wait.ts';

/** The helpers of {@link podmanUnits}. */
export type PodmanUnits = ReturnType<typeof podmanUnits>;

/** Helpers over one test file's podman environment. */
export function podmanUnits({ podman, cleanups }: PodmanTestEnvironment) {
  /** A runtime on a fresh data dir, closed (stopping its units) after the tests. */
  async function newRuntime(
    options: Partial<PodmanRuntimeOptions> = {},
  ): Promise<{ runtime: Runtime; dataDir: string }> {
    const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'outpost-podman-')));
    const runtime = createPodmanRuntime({
      restartBackoff: { initialMs: 300, maxMs: 5000 },
      resyncMs: 1000,
      ...options,
      dataDir,
    });
    await runtime.start();
    cleanups.push(async () => {
      await runtime.close({ stopUnits: true });
      await rm(dataDir, { recursive: true, force: true });
    });
    return { runtime, dataDir };
  }

  let counter = 0;
  /** A unit of a Pod (or Deployment with `replicas`) running busybox `sh -c script`. */
  function unit(
    name: string,
    script: string,
    options: {
      hash?: string;
      kind?: 'Pod' | 'Deployment';
      replicas?: number;
      restartPolicy?: 'Always' | 'OnFailure' | 'Never';
      image?: string;
      rootless?: boolean;
      extra?: Record<string, unknown>;
      container?: Record<string, unknown>;
      configMaps?: ConfigMap[];
      secrets?: Secret[];
    } = {},
  ): DesiredUnit {
    const uniqueName = `${name}-${process.pid}-${counter++}`;
    const kind = options.kind ?? 'Pod';
    const podSpec = {
      terminationGracePeriodSeconds: 0,
      ...(options.restartPolicy ? { restartPolicy: options.restartPolicy } : {}),
      containers: [
        { name: 'main', image: options.image ?? IMAGE, command: ['sh', '-c', script], ...options.container },
      ],
      ...options.extra,
    };
    const object: KubeObject =
      kind === 'Pod'
        ? { apiVersion: 'v1', kind, metadata: { name: uniqueName, namespace: 'default' }, spec: podSpec }
        : {
            apiVersion: 'apps/v1',
            kind,
            metadata: { name: uniqueName, namespace: 'default' },
            spec: {
              replicas: options.replicas ?? 1,
              template: { metadata: { labels: { app: name } }, spec: podSpec },
            },
          };
    const source = { namespace: 'default', workload: 'test', placement: 'test' };
    const ref = { apiVersion: object.apiVersion, kind, namespace: 'default', name: uniqueName };
    return {
      id: unitIdOf(source, ref),
      source,
      ref,
      object,
      objectHash: options.hash ?? 'h1',
      hash: options.hash ?? 'h1',
      configMaps: new Map((options.configMaps ?? []).map((c) => [c.metadata?.name ?? '', c])),
      secrets: new Map((options.secrets ?? []).map((s) => [s.metadata?.name ?? '', s])),
      rootless: options.rootless ?? false,
    };
  }

  /** Podman answers slowly: a minute by default, polled every 250 ms. */
  function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
    return poll(what, probe, timeoutMs, 250);
  }

  async function unitOf(runtime: Runtime, id: string): Promise<ActualUnit | undefined> {
    return (await runtime.list()).find((u) => u.id === id);
  }

  function running(runtime: Runtime, id: string, timeoutMs?: number): Promise<ActualUnit> {
    return waitFor(
      `unit ${id} running`,
      async () => {
        const found = await unitOf(runtime, id);
        return found?.status.phase === 'Running' && found.status.ready ? found : undefined;
      },
      timeoutMs,
    );
  }

  async function logsOf(
    runtime: Runtime,
    id: string,
    options: { replica?: number; container?: string } = {},
  ) {
    let text = '';
    for await (const chunk of runtime.logs(id, options)) text += chunk;
    return text;
  }

  /** The unit's pods, named without the `<owner>-` every pod name starts with (`<unit id>-<replica>[.<slot>]`), sorted. */
  async function podsOf(id: string): Promise<string[]> {
    return (await fullPodNames(id)).map((name) => name.slice(name.indexOf(id))).sort();
  }

  /** The podman name of the unit's pod `<unit id>-<suffix>` (the owner in front). */
  async function podName(id: string, suffix: string): Promise<string> {
    const found = (await fullPodNames(id)).find((name) => name.endsWith(`-${id}-${suffix}`));
    if (!found) throw new Error(`no pod ${id}-${suffix}`);
    return found;
  }

  async function fullPodNames(id: string): Promise<string[]> {
    const out = await podman(
      'pod',
      'ps',
      '--format',
      '{{.Name}}',
      '--filter',
      `label=outpost.dev/unit=${id}`,
    );
    return out.split('\n').filter(Boolean);
  }

  /** The host pid of a running container. */
  async function pidOf(name: string): Promise<number> {
    return Number((await podman('inspect', '--format', '{{.State.Pid}}', name)).trim());
  }

  return { newRuntime, unit, waitFor, unitOf, running, logsOf, podsOf, podName, fullPodNames, pidOf };
}
