import { monotonicMs } from '../../../util/index.ts';
import { check, type ProbeTarget } from './checks.ts';
import type { Probe, ProbeKind } from './spec.ts';

/** What a runtime does about a container's probes. */
export interface ProbeHandlers {
  /** Readiness or the message changed: the unit's status may read differently. */
  onChange(): void;
  /**
   * The liveness probe failed `failureThreshold` times in a row, or the
   * startup probe did: the runtime stops the container (with its grace
   * period) and restarts it per its restart policy, with the restart backoff.
   * Probing stops until {@link ContainerProbes.start} is called for the new run.
   */
  onFailure(kind: 'liveness' | 'startup', message: string): void;
}

const TITLE: Record<ProbeKind, string> = {
  startup: 'Startup probe',
  readiness: 'Readiness probe',
  liveness: 'Liveness probe',
};

/**
 * A container's probes, as the kubelet runs them, for one run of the
 * container at a time: {@link start} when it (re)starts, {@link stop} when
 * it stops. The startup probe runs first (readiness and liveness wait until
 * it passed); each probe first runs `initialDelaySeconds` after the start and
 * then every `periodSeconds`. The container is ready once started and its
 * readiness probe (if any) passed `successThreshold` times in a row; it is
 * not ready again after `failureThreshold` failures in a row. Liveness and
 * startup failures go to {@link ProbeHandlers.onFailure}.
 */
export class ContainerProbes {
  readonly #probes: readonly Probe[];
  readonly #target: ProbeTarget;
  readonly #handlers: ProbeHandlers;
  readonly #timers = new Set<NodeJS.Timeout>();
  /** Bumped by every start and stop: a probe try of an earlier run is ignored. */
  #run = 0;
  #startedAt = 0;
  #started = false;
  #ready = false;
  #failure: string | undefined;
  #lastKill: string | undefined;

  constructor(probes: readonly Probe[], target: ProbeTarget, handlers: ProbeHandlers) {
    this.#probes = probes;
    this.#target = target;
    this.#handlers = handlers;
  }

  /** Whether the container is ready as far as its probes go (true without probes). */
  get ready(): boolean {
    return this.#started && this.#ready;
  }

  /**
   * Why the container is not ready (`Readiness probe failed: ...`,
   * `Startup probe failed: ...`), else why it was last restarted by a probe.
   */
  get message(): string | undefined {
    if (this.#failure) return this.#failure;
    return this.#lastKill ? `restarted after: ${this.#lastKill}` : undefined;
  }

  /** The container (re)started: probing begins anew. */
  start(): void {
    this.stop();
    const run = this.#run;
    this.#startedAt = monotonicMs();
    this.#started = !this.#has('startup');
    this.#ready = !this.#has('readiness');
    this.#failure = undefined;
    if (this.#started) this.#afterStartup(run);
    else this.#loop(this.#probe('startup')!, run);
  }

  /** The container stopped: no more tries, not ready. */
  stop(): void {
    this.#run++;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#started = !this.#has('startup');
    this.#ready = false;
  }

  #has(kind: ProbeKind): boolean {
    return this.#probe(kind) !== undefined;
  }

  #probe(kind: ProbeKind): Probe | undefined {
    return this.#probes.find((probe) => probe.kind === kind);
  }

  #afterStartup(run: number): void {
    for (const kind of ['readiness', 'liveness'] as const) {
      const probe = this.#probe(kind);
      if (probe) this.#loop(probe, run);
    }
  }

  /** Runs `probe` from its initial delay on, every period, while `run` is the current run. */
  #loop(probe: Probe, run: number): void {
    let successes = 0;
    let failures = 0;
    const tick = async () => {
      if (run !== this.#run) return;
      const failed = await check(probe.action, this.#target, probe.timeoutMs).catch((error: unknown) =>
        error instanceof Error ? error.message : String(error),
      );
      if (run !== this.#run) return;
      if (failed === undefined) {
        successes++;
        failures = 0;
      } else {
        failures++;
        successes = 0;
      }
      const message = failed === undefined ? undefined : `${TITLE[probe.kind]} failed: ${failed}`;
      if (!this.#handle(probe, run, message, successes, failures)) return;
      this.#schedule(tick, probe.periodMs);
    };
    const delay = Math.max(0, probe.initialDelayMs - (monotonicMs() - this.#startedAt));
    this.#schedule(tick, delay);
  }

  /** Applies one probe result; false when this probe's loop ends. */
  #handle(
    probe: Probe,
    run: number,
    message: string | undefined,
    successes: number,
    failures: number,
  ): boolean {
    const before = { ready: this.ready, failure: this.#failure };
    let goOn = true;
    if (probe.kind === 'readiness') {
      if (message === undefined && successes >= probe.successThreshold) {
        this.#ready = true;
        this.#failure = undefined;
      } else if (message !== undefined) {
        // Not ready yet, or no longer after `failureThreshold` failures: say which probe and why.
        if (failures >= probe.failureThreshold) this.#ready = false;
        if (!this.#ready) this.#failure = message;
      }
    } else if (probe.kind === 'startup' && message === undefined) {
      this.#started = true;
      if (this.#failure?.startsWith(TITLE.startup)) this.#failure = undefined;
      this.#afterStartup(run);
      goOn = false;
    } else if (message !== undefined) {
      if (probe.kind === 'startup') this.#failure = message;
      if (failures >= probe.failureThreshold) {
        this.#lastKill = message;
        this.stop();
        this.#handlers.onFailure(probe.kind as 'liveness' | 'startup', message);
        return false;
      }
    }
    if (before.ready !== this.ready || before.failure !== this.#failure) this.#handlers.onChange();
    return goOn;
  }

  #schedule(tick: () => Promise<void>, delayMs: number): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      void tick();
    }, delayMs);
    timer.unref();
    this.#timers.add(timer);
  }
}
