import { statfs } from 'node:fs/promises';
import { freemem, loadavg, totalmem } from 'node:os';
import type { Logger } from 'pino';
import { delay, monotonicMs } from '../../util/index.ts';
import { VERSION } from '../../version.ts';
import { collectFacts, type DeviceFacts } from '../enrollment/index.ts';
import type { SourcedStatus } from '../reconcile/index.ts';
import { HostAddresses } from './addresses.ts';

/**
 * Heartbeats: every `spec.heartbeat.periodSeconds` of the Device (15 s by
 * default; a new period is taken from the Device the hub returns after each
 * heartbeat, so it applies from the next one on without a restart) the agent
 * appends a full Device status to the outbox: `phase: Online`, `Ready`,
 * `lastHeartbeatTime`, system facts, resource use and a summary per
 * workload. Periods are measured on the monotonic clock.
 */

/** Early heartbeats ({@link Heartbeat.beat}) are at least this far apart. */
export const MIN_EARLY_GAP_MS = 1000;

/** The Device status the agent writes. */
export type DeviceStatusReport = Record<string, unknown>;

/** Options of {@link Heartbeat}. */
export interface HeartbeatOptions {
  readonly dataDir: string;
  readonly log: Logger;
  /** Per-object status of the last reconcile pass. */
  readonly statuses: () => readonly SourcedStatus[];
  /** Appends the report to the outbox. */
  readonly send: (status: DeviceStatusReport, transition: boolean) => Promise<void>;
  /** The device profiles' conditions (Device `status.profiles`), when profiles are placed. */
  readonly profiles?: () => unknown[] | undefined;
  /** The resource guard's reserves and pressure, added to Device `status.resources`. @default none */
  readonly guard?: () => Record<string, unknown> | undefined;
  /**
   * What waits on the device for the hub (`outboxEntries`, `telemetryOutboxMessages`), added to
   * Device `status.resources`, where the hub's metrics sum it. @default none
   */
  readonly backlog?: () => Record<string, number>;
  /**
   * The proxy the agent reaches the hub through (nested networks), reported as `system.hubProxy` (null
   * without one: the status is a merge patch) so that an old parent admits a moved device until it uses
   * the new one. @default none
   */
  readonly hubProxy?: () => string | undefined;
  /** The uploader's Device `status.uploads`, once uploads are declared. @default none */
  readonly uploads?: () => Record<string, unknown> | undefined;
  /** @default 15 */
  readonly initialPeriodSeconds?: number;
  /** Wall clock for timestamps. @default () => new Date() */
  readonly now?: () => Date;
}

/** Sends heartbeats; see the module comment. */
export class Heartbeat {
  readonly #options: HeartbeatOptions;
  #periodSeconds: number;
  #facts: DeviceFacts | undefined;
  #readySince: string | undefined;
  #wake: (() => void) | undefined;
  #early = false;
  readonly #addresses = new HostAddresses();

  constructor(options: HeartbeatOptions) {
    this.#options = options;
    this.#periodSeconds = options.initialPeriodSeconds ?? 15;
  }

  get periodSeconds(): number {
    return this.#periodSeconds;
  }

  /** Takes the heartbeat period from a Device the hub returned. */
  updateFromDevice(device: Record<string, unknown>): void {
    const period = (device.spec as { heartbeat?: { periodSeconds?: number } } | undefined)?.heartbeat
      ?.periodSeconds;
    const next = typeof period === 'number' && period >= 1 ? period : 15;
    if (next !== this.#periodSeconds) {
      this.#options.log.info({ periodSeconds: next }, 'heartbeat period changed');
      this.#periodSeconds = next;
    }
  }

  /**
   * Sends a heartbeat soon (as a transition), e.g. when a profile condition
   * changed: at once, or {@link MIN_EARLY_GAP_MS} after the last one, so that
   * a burst of changes is one report of the latest states.
   */
  beat(): void {
    this.#early = true;
    this.#wake?.();
  }

  /** Beats until `signal` aborts; the first at once. */
  async run(signal: AbortSignal): Promise<void> {
    let first = true;
    while (!signal.aborted) {
      const started = monotonicMs();
      const early = this.#early;
      this.#early = false;
      try {
        await this.#options.send(await this.report(), first || early);
        first = false;
      } catch (error) {
        this.#options.log.error({ err: error }, 'heartbeat not recorded');
      }
      if (!this.#early) {
        const wait = this.#periodSeconds * 1000 - (monotonicMs() - started);
        const woken = new AbortController();
        this.#wake = () => woken.abort();
        await delay(Math.max(100, wait), AbortSignal.any([signal, woken.signal])).catch(() => {});
        this.#wake = undefined;
      }
      const gap = MIN_EARLY_GAP_MS - (monotonicMs() - started);
      if (this.#early && gap > 0) await delay(gap, signal).catch(() => {});
    }
  }

  /** The Device status of a heartbeat now. */
  async report(): Promise<DeviceStatusReport> {
    const now = (this.#options.now ?? (() => new Date()))().toISOString();
    this.#readySince ??= now;
    this.#facts ??= await collectFacts(this.#options.dataDir);
    const disk = await statfs(this.#options.dataDir).catch(() => undefined);
    const statuses = this.#options.statuses();
    const profiles = this.#options.profiles?.();
    const uploads = this.#options.uploads?.();
    return {
      phase: 'Online',
      lastHeartbeatTime: now,
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'HeartbeatReceived',
          message: 'the agent is running',
          lastTransitionTime: this.#readySince,
        },
      ],
      system: {
        ...this.#facts,
        ...(disk ? { diskBytes: disk.blocks * disk.bsize } : {}),
        agentVersion: VERSION,
        // Read on every heartbeat: an address given by DHCP changes, and the parent's proxy follows it.
        addresses: this.#addresses.read(),
        hubProxy: this.#options.hubProxy?.() ?? null,
      },
      resources: {
        load1: Math.round(loadavg()[0]! * 100) / 100,
        memoryAvailableBytes: freemem(),
        memoryUsedBytes: totalmem() - freemem(),
        ...(disk ? { diskAvailableBytes: disk.bavail * disk.bsize } : {}),
        agentResidentBytes: process.memoryUsage.rss(),
        ...this.#options.guard?.(),
        ...this.#options.backlog?.(),
      },
      workloads: summarise(statuses),
      ...(profiles ? { profiles } : {}),
      ...(uploads ? { uploads } : {}),
    };
  }
}

/** One entry per Workload (`namespace/name`): its objects, how many run, failed, and their restarts. */
export function summarise(statuses: readonly SourcedStatus[]): Record<string, unknown>[] {
  const byWorkload = new Map<
    string,
    { objects: number; running: number; failed: number; restarts: number }
  >();
  for (const { source, status } of statuses) {
    const name = `${source.namespace}/${source.workload}`;
    const entry = byWorkload.get(name) ?? { objects: 0, running: 0, failed: 0, restarts: 0 };
    entry.objects++;
    if ((status.phase === 'Running' || status.phase === 'Succeeded') && status.ready !== false)
      entry.running++;
    if (status.phase === 'Failed') entry.failed++;
    entry.restarts += status.restarts ?? 0;
    byWorkload.set(name, entry);
  }
  return [...byWorkload].map(([name, counts]) => ({ name, ...counts }));
}
