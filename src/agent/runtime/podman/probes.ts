/**
 * Kubernetes probes for podman containers, run by the agent (as on the
 * process runtime) rather than by podman's healthchecks, which know no
 * readiness and restart nothing without systemd: exec probes through
 * `podman exec` (inside the container, as its user), httpGet and tcpSocket
 * probes from the host to the pod's address (127.0.0.1 with host
 * networking, rootless units included). The probes travel with the pod as a
 * label, so an agent that adopts the pod after a restart probes it too.
 */
import type { Logger } from 'pino';
import { ContainerProbes, type ExecResult, type Probe } from '../probes/index.ts';
import { PodmanError, type PodmanHost } from './exec.ts';
import { LABELS, type ProbesLabel } from './kube.ts';
import type { ContainerState, PodState, UnitPods } from './snapshot.ts';

interface Probed {
  readonly probes: ContainerProbes;
  /** `<container id>:<startedAt>` of the run being probed ('' when stopped). */
  run: string;
}

/** Runs the probes of this agent's podman containers, one {@link ContainerProbes} per container. */
export class PodmanProbes {
  readonly #probed = new Map<string, Probed>();

  constructor(
    private readonly options: {
      /** A container's readiness or probe message changed. */
      readonly onChange: () => void;
      readonly log?: Pick<Logger, 'info' | 'warn'>;
    },
  ) {}

  /** Starts probing each run of `unit`'s containers that declares probes, stops probing stopped ones. */
  check(unit: UnitPods): void {
    for (const pod of unit.pods) {
      const label = this.#labelOf(pod);
      if (!label) continue;
      for (const container of pod.containers) {
        const probes = label.containers[container.container];
        if (!probes) continue;
        let probed = this.#probed.get(container.name);
        if (!probed) {
          probed = { probes: this.#probesFor(unit.host, pod, container, probes, label.hostNetwork), run: '' };
          this.#probed.set(container.name, probed);
        }
        const run = container.state === 'running' ? `${container.id}:${container.startedAt}` : '';
        if (run === probed.run) continue;
        probed.run = run;
        if (run) probed.probes.start();
        else probed.probes.stop();
      }
    }
  }

  /** What the probes say about `container` (nothing when it has none or is not probed yet). */
  view(container: ContainerState): { ready?: boolean; probeMessage?: string } {
    const probed = this.#probed.get(container.name);
    if (!probed) return {};
    const message = probed.probes.message;
    return {
      ...(probed.run ? { ready: probed.probes.ready } : {}),
      ...(message ? { probeMessage: message } : {}),
    };
  }

  /** The container is gone: no more probing. */
  forget(containerName: string): void {
    this.#probed.get(containerName)?.probes.stop();
    this.#probed.delete(containerName);
  }

  /** Stops every probe. */
  stop(): void {
    for (const probed of this.#probed.values()) probed.probes.stop();
  }

  /** The pod's probes label, parsed (a few hundred bytes, once per supervision pass: not worth a cache to prune). */
  #labelOf(pod: PodState): ProbesLabel | undefined {
    const text = pod.labels[LABELS.probes];
    if (!text) return undefined;
    try {
      return JSON.parse(text) as ProbesLabel;
    } catch {
      return undefined;
    }
  }

  #probesFor(
    host: PodmanHost,
    pod: PodState,
    container: ContainerState,
    probes: Probe[],
    hostNetwork: boolean,
  ): ContainerProbes {
    let address: Promise<string> | undefined;
    return new ContainerProbes(
      probes,
      {
        exec: (command, timeoutMs) => podmanExec(host, container.name, command, timeoutMs),
        address: () => {
          address ??= hostNetwork ? Promise.resolve('127.0.0.1') : podAddress(host, pod.id);
          address.catch(() => {
            address = undefined;
          });
          return address;
        },
      },
      {
        onChange: this.options.onChange,
        onFailure: (kind, message) => {
          this.options.log?.info(
            { container: container.name, kind, message },
            'probe failed: stopping container',
          );
          const grace = pod.labels[LABELS.grace] ?? '10';
          // Stopped, not removed: the supervisor restarts it per the restart policy, with the backoff.
          host.run(['stop', '-t', grace, container.name]).catch((error: unknown) => {
            this.options.log?.warn(
              { container: container.name, err: error },
              'stop after a failed probe failed',
            );
          });
        },
      },
    );
  }
}

async function podmanExec(
  host: PodmanHost,
  name: string,
  command: readonly string[],
  timeoutMs: number,
): Promise<ExecResult> {
  try {
    const output = await host.run(['exec', name, ...command], { timeoutMs });
    return { code: 0, output };
  } catch (error) {
    if (error instanceof PodmanError) return { code: error.exitCode, output: error.stderr };
    return { code: 1, output: error instanceof Error ? error.message : String(error) };
  }
}

/** The pod's address on its podman network (its infra container's). */
async function podAddress(host: PodmanHost, podId: string): Promise<string> {
  const infra = (await host.run(['pod', 'inspect', podId, '--format', '{{.InfraContainerID}}'])).trim();
  const address = (
    await host.run([
      'inspect',
      infra,
      '--format',
      '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}',
    ])
  )
    .trim()
    .split(' ')[0];
  if (!address) throw new Error(`pod ${podId} has no network address`);
  return address;
}
