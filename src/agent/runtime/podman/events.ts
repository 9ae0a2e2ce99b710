import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { endTied, type PodmanHost } from './exec.ts';
import { LABELS } from './kube.ts';

/** Container events that can change a unit's status. */
const RELEVANT = new Set(['died', 'start', 'restart', 'remove', 'oom', 'kill', 'stop']);

/** What an event says (podman's JSON fields), enough to tell which pod it concerns. */
export interface PodmanEvent {
  readonly status: string;
  /** The container's name. */
  readonly name?: string;
  /** The id of the container's pod. */
  readonly podId?: string;
  /** When it happened (wall ms, podman's nanosecond time rounded), when podman said. */
  readonly timeMs?: number;
}

/**
 * Follows `podman events` for this agent's containers in one store (a
 * single long-running process, cheaper than polling `podman ps`) and calls
 * `onEvent` for every start or death. The stream is restarted with a delay
 * if podman exits; the runtime's periodic resync covers anything missed
 * meanwhile.
 */
export class PodmanEvents {
  #child: ChildProcess | undefined;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly host: PodmanHost,
    private readonly owner: string,
    private readonly onEvent: (event: PodmanEvent) => void,
  ) {}

  start(): void {
    if (this.#stopped) return;
    const child = this.host.spawnTied([
      'events',
      '--format',
      'json',
      '--filter',
      'type=container',
      '--filter',
      `label=${LABELS.owner}=${this.owner}`,
    ]);
    this.#child = child;
    child.stderr?.resume();
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const event = JSON.parse(line) as { Status?: string; Name?: string; PodID?: string; Time?: string };
        if (!event.Status || !RELEVANT.has(event.Status)) return;
        const timeMs = Date.parse(event.Time ?? '');
        this.onEvent({
          status: event.Status,
          name: event.Name,
          podId: event.PodID,
          ...(Number.isFinite(timeMs) ? { timeMs } : {}),
        });
      } catch {
        // not an event line
      }
    });
    child.stdin?.on('error', () => {}); // the shell gone first
    const restart = () => {
      endTied(child); // its watcher, if podman ended by itself
      if (this.#child !== child) return;
      this.#child = undefined;
      if (!this.#stopped) this.#timer = setTimeout(() => this.start(), 2000);
    };
    child.on('close', restart);
    child.on('error', restart);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    if (this.#child) {
      endTied(this.#child);
      // A rootless `podman events` can outlive its runuser (seen orphaned in a clean-clone run) and
      // keep our end of its pipes open, which kept the agent's process alive: let go of them.
      this.#child.stdout?.destroy();
      this.#child.stderr?.destroy();
    }
    this.#child = undefined;
  }
}
