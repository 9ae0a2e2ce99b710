import { readFile, statfs } from 'node:fs/promises';
import { freemem, totalmem } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { delay, readFileIfExists, writeFileAtomic } from '../../util/index.ts';
import {
  type ActualUnit,
  type DesiredUnit,
  formatBytes,
  parseQuantity,
  qosClassOf,
  unitRequestsOf,
} from '../runtime/index.ts';
import { evictionOrder } from './eviction-order.ts';

/**
 * The resource guard (issue 15): workloads never starve the device.
 *
 * - Admission. A unit is started only if its requests fit what the reserves
 *   leave: the memory requests of every admitted unit plus its own within
 *   the device's memory less `--reserve-memory`, its `ephemeral-storage`
 *   requests within the data dir's filesystem less `--reserve-disk`
 *   (kubelet's allocatable). Under memory pressure no BestEffort unit is
 *   started, under disk pressure none at all (kubelet's rules). A refused
 *   unit is Pending with `InsufficientMemory` / `InsufficientDisk`.
 * - Pressure. Every `checkMs` the guard reads the memory available
 *   (/proc/meminfo MemAvailable) and the data dir's free disk; a value a
 *   local program posted as `memory` / `disk` (percent used) wins while it
 *   is fresh, as for profiles. Below a reserve, one unit is evicted, in
 *   {@link evictionOrder}; the next only `evictionIntervalMs` later, if the
 *   pressure is still there. An evicted unit is Failed with `Evicted`; a
 *   Pod stays so until its Workload changes (as Kubernetes leaves an evicted
 *   Pod), a Deployment or StatefulSet is admitted again once the device has
 *   been without pressure for `pressureTransitionMs`. Evictions are kept in
 *   `DIR/guard.json`, so an agent restart does not start them again.
 *
 * The guard decides, the reconciler acts: it calls {@link admit} on each
 * pass and stops what the guard refuses to let run.
 */

/** A reserve: bytes, or a share of the total. */
export type Reserve = { readonly bytes: number } | { readonly percent: number };

/** Options of {@link ResourceGuard}. */
export interface ResourceGuardOptions {
  readonly dataDir: string;
  readonly log: Logger;
  /** Memory kept for the device (the OS, the agent). @default {@link DEFAULT_RESERVE_MEMORY} */
  readonly reserveMemory?: Reserve;
  /** Disk of the data dir's filesystem kept free. @default {@link DEFAULT_RESERVE_DISK} */
  readonly reserveDisk?: Reserve;
  /** A metric's posted value (percent used), while fresh; undefined when none. @default none */
  readonly posted?: (name: 'memory' | 'disk') => number | undefined;
  /** Called when the guard's decisions may have changed (an eviction, pressure gone). */
  readonly onChange: () => void;
  /** Called when memory or disk pressure starts or ends (the heartbeat reports it early). */
  readonly onPressureChange?: () => void;
  /** How often pressure is measured. @default 1000 */
  readonly checkMs?: number;
  /** The least time between two evictions (the first one's effect shows meanwhile). @default 10000 */
  readonly evictionIntervalMs?: number;
  /** How long without pressure before evicted Deployments/StatefulSets may run again. @default 300000 */
  readonly pressureTransitionMs?: number;
}

/** `--reserve-memory`'s default: enough for a small device's OS and the agent. */
export const DEFAULT_RESERVE_MEMORY: Reserve = { bytes: 256 * 2 ** 20 };
/** `--reserve-disk`'s default: kubelet's nodefs eviction threshold. */
export const DEFAULT_RESERVE_DISK: Reserve = { percent: 10 };

/** Why the guard does not let a unit run. */
export interface Refusal {
  readonly phase: 'Pending' | 'Failed';
  readonly reason: 'InsufficientMemory' | 'InsufficientDisk' | 'Evicted';
  readonly message: string;
}

/** One reading of the device's memory and disk (bytes). */
export interface DeviceResources {
  readonly memoryTotal: number;
  readonly memoryAvailable: number;
  readonly diskTotal: number;
  readonly diskAvailable: number;
  /** Where the available values come from. */
  readonly memorySource: 'measured' | 'posted';
  readonly diskSource: 'measured' | 'posted';
}

interface Eviction {
  id: string;
  hash: string;
  kind: string;
  message: string;
  /** Epoch ms. */
  at: number;
}

const STATE_FILE = 'guard.json';

/**
 * Parses a reserve as given on the command line: a Kubernetes quantity of
 * bytes (`256Mi`, `1G`, `0`) or a percentage of the total (`10%`).
 * @throws Error naming what is wrong
 */
export function parseReserve(text: string): Reserve {
  const percent = /^(\d+(?:\.\d+)?)%$/.exec(text.trim());
  if (percent) {
    const value = Number(percent[1]);
    if (value >= 100) throw new Error(`${text} leaves nothing for workloads: give a percentage below 100`);
    return { percent: value };
  }
  const bytes = parseQuantity(text);
  if (bytes === undefined || !Number.isFinite(bytes))
    throw new Error(`${text} is neither a quantity of bytes (256Mi, 1G) nor a percentage (10%)`);
  return { bytes: Math.ceil(bytes) };
}

/** A reserve in bytes of `total`. */
export function reserveBytes(reserve: Reserve, total: number): number {
  return 'bytes' in reserve ? reserve.bytes : Math.ceil((total * reserve.percent) / 100);
}

/** See the module comment. */
export class ResourceGuard {
  readonly #options: ResourceGuardOptions;
  readonly #reserveMemory: Reserve;
  readonly #reserveDisk: Reserve;
  #resources: DeviceResources | undefined;
  readonly #evictions = new Map<string, Eviction>();
  /** Units admitted on the last pass and running: eviction candidates. */
  #running: DesiredUnit[] = [];
  #lastEviction = Number.NEGATIVE_INFINITY;
  #lastPressure = Number.NEGATIVE_INFINITY;
  #pressure = { memory: false, disk: false };

  constructor(options: ResourceGuardOptions) {
    this.#options = options;
    this.#reserveMemory = options.reserveMemory ?? DEFAULT_RESERVE_MEMORY;
    this.#reserveDisk = options.reserveDisk ?? DEFAULT_RESERVE_DISK;
  }

  /** Reads the device and the evictions kept by an earlier agent; before the first {@link admit}. */
  async start(): Promise<void> {
    const text = await readFileIfExists(join(this.#options.dataDir, STATE_FILE)).catch(() => undefined);
    try {
      const saved = JSON.parse(text?.toString() ?? '{}') as { evictions?: Eviction[] };
      for (const eviction of saved.evictions ?? []) this.#evictions.set(eviction.id, eviction);
    } catch {
      // unreadable: nothing was evicted
    }
    this.#resources = await this.measure();
  }

  /**
   * What the Device status tells of the guard (in `status.resources`): the
   * reserves in bytes, whether there is pressure, and where the readings
   * come from.
   */
  report(): Record<string, unknown> | undefined {
    const resources = this.#resources;
    if (!resources) return undefined;
    return {
      reserveMemoryBytes: reserveBytes(this.#reserveMemory, resources.memoryTotal),
      reserveDiskBytes: reserveBytes(this.#reserveDisk, resources.diskTotal),
      memoryPressure: this.#pressure.memory,
      diskPressure: this.#pressure.disk,
      ...(resources.memorySource === 'posted' ? { memoryAvailableSource: 'posted' } : {}),
      ...(resources.diskSource === 'posted' ? { diskAvailableSource: 'posted' } : {}),
      evicted: this.#evictions.size,
    };
  }

  /** The last reading. */
  get resources(): DeviceResources | undefined {
    return this.#resources;
  }

  /**
   * Which of `units` (the Mailbox's runnable units not held by profiles and
   * the cron runs active or due, in Mailbox order) must not run, by unit id, given what runs (`actual`).
   * Units that run with their current hash stay admitted; the others are
   * admitted in Mailbox order while they fit.
   */
  admit(units: readonly DesiredUnit[], actual: ReadonlyMap<string, ActualUnit>): Map<string, Refusal> {
    const refused = new Map<string, Refusal>();
    const resources = this.#resources;
    if (!resources) return refused;
    this.#forget(units);
    const memoryReserve = reserveBytes(this.#reserveMemory, resources.memoryTotal);
    const diskReserve = reserveBytes(this.#reserveDisk, resources.diskTotal);
    const memoryForWorkloads = resources.memoryTotal - memoryReserve;
    const diskForWorkloads = resources.diskTotal - diskReserve;
    const memoryPressure = resources.memoryAvailable < memoryReserve;
    const diskPressure = resources.diskAvailable < diskReserve;
    let memoryUsed = 0;
    let diskUsed = 0;
    const running: DesiredUnit[] = [];
    for (const unit of units) {
      const eviction = this.#evictions.get(unit.id);
      if (eviction) {
        refused.set(unit.id, { phase: 'Failed', reason: 'Evicted', message: eviction.message });
        continue;
      }
      if (actual.get(unit.id)?.hash !== unit.hash) continue;
      const requests = unitRequestsOf(unit.object);
      memoryUsed += requests.memoryBytes;
      diskUsed += requests.ephemeralStorageBytes;
      running.push(unit);
    }
    for (const unit of units) {
      if (refused.has(unit.id) || actual.get(unit.id)?.hash === unit.hash) continue;
      const requests = unitRequestsOf(unit.object);
      const refusal = (reason: Refusal['reason'], message: string) =>
        refused.set(unit.id, { phase: 'Pending', reason, message });
      if (memoryUsed + requests.memoryBytes > memoryForWorkloads) {
        refusal(
          'InsufficientMemory',
          `requests ${formatBytes(requests.memoryBytes)} of memory; the device has ${formatBytes(
            Math.max(0, memoryForWorkloads - memoryUsed),
          )} left for workloads (${formatBytes(resources.memoryTotal)} less --reserve-memory ${formatBytes(
            memoryReserve,
          )} less ${formatBytes(memoryUsed)} requested by running workloads)`,
        );
      } else if (diskUsed + requests.ephemeralStorageBytes > diskForWorkloads) {
        refusal(
          'InsufficientDisk',
          `requests ${formatBytes(requests.ephemeralStorageBytes)} of ephemeral storage; the data dir's filesystem has ${formatBytes(
            Math.max(0, diskForWorkloads - diskUsed),
          )} left for workloads (${formatBytes(resources.diskTotal)} less --reserve-disk ${formatBytes(diskReserve)} less ${formatBytes(
            diskUsed,
          )} requested by running workloads)`,
        );
      } else if (diskPressure) {
        refusal(
          'InsufficientDisk',
          `the device is under disk pressure: ${this.#diskWords(resources, diskReserve)}`,
        );
      } else if (memoryPressure && qosClassOf(unit.object) === 'BestEffort') {
        refusal(
          'InsufficientMemory',
          `the device is under memory pressure and the workload is BestEffort (no requests): ${this.#memoryWords(
            resources,
            memoryReserve,
          )}`,
        );
      } else {
        memoryUsed += requests.memoryBytes;
        diskUsed += requests.ephemeralStorageBytes;
      }
      // A refused replacement leaves the version that runs running: only eviction stops a unit.
    }
    this.#running = running;
    return refused;
  }

  /** Measures (and evicts under pressure) every `checkMs` until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const checkMs = this.#options.checkMs ?? 1000;
    while (!signal.aborted) {
      await delay(checkMs, signal).catch(() => {});
      if (signal.aborted) break;
      try {
        this.#resources = await this.measure();
        await this.#check(this.#resources);
      } catch (error) {
        this.#options.log.error({ err: error }, 'resource guard check failed');
      }
    }
  }

  /** One reading of the device's memory and of the data dir's filesystem, posted values winning. */
  async measure(): Promise<DeviceResources> {
    const meminfo = await readFile('/proc/meminfo', 'utf8').catch(() => '');
    const field = (name: string) => {
      const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(meminfo);
      return match ? Number(match[1]) * 1024 : undefined;
    };
    const memoryTotal = field('MemTotal') ?? totalmem();
    let memoryAvailable = field('MemAvailable') ?? freemem();
    const disk = await statfs(this.#options.dataDir).catch(() => undefined);
    // As df counts: blocks in use plus those available to unprivileged users.
    const diskTotal = disk ? (disk.blocks - disk.bfree + disk.bavail) * disk.bsize : 0;
    let diskAvailable = disk ? disk.bavail * disk.bsize : 0;
    const postedMemory = this.#options.posted?.('memory');
    if (postedMemory !== undefined) memoryAvailable = (memoryTotal * (100 - postedMemory)) / 100;
    const postedDisk = this.#options.posted?.('disk');
    if (postedDisk !== undefined) diskAvailable = (diskTotal * (100 - postedDisk)) / 100;
    return {
      memoryTotal,
      memoryAvailable: Math.max(0, Math.round(memoryAvailable)),
      diskTotal,
      diskAvailable: Math.max(0, Math.round(diskAvailable)),
      memorySource: postedMemory === undefined ? 'measured' : 'posted',
      diskSource: postedDisk === undefined ? 'measured' : 'posted',
    };
  }

  async #check(resources: DeviceResources): Promise<void> {
    const memoryReserve = reserveBytes(this.#reserveMemory, resources.memoryTotal);
    const diskReserve = reserveBytes(this.#reserveDisk, resources.diskTotal);
    const memoryPressure = resources.memoryAvailable < memoryReserve;
    const diskPressure = resources.diskAvailable < diskReserve;
    const now = Date.now();
    if (memoryPressure !== this.#pressure.memory || diskPressure !== this.#pressure.disk) {
      this.#pressure = { memory: memoryPressure, disk: diskPressure };
      const level = memoryPressure || diskPressure ? 'warn' : 'info';
      this.#options.log[level]({ memoryPressure, diskPressure }, 'device pressure changed');
      this.#options.onPressureChange?.();
    }
    if (!memoryPressure && !diskPressure) {
      // Evicted Deployments and StatefulSets may come back once the pressure has been gone a while.
      const transition = this.#options.pressureTransitionMs ?? 300_000;
      if (now - this.#lastPressure >= transition) {
        const back = [...this.#evictions.values()].filter((e) => e.kind !== 'Pod');
        if (back.length > 0) {
          for (const eviction of back) this.#evictions.delete(eviction.id);
          this.#options.log.info(
            { units: back.map((e) => e.id) },
            'no pressure any more: evicted units may run',
          );
          await this.#save();
          this.#options.onChange();
        }
      }
      return;
    }
    this.#lastPressure = now;
    if (now - this.#lastEviction < (this.#options.evictionIntervalMs ?? 10_000)) return;
    const victim = evictionOrder(this.#running.filter((unit) => !this.#evictions.has(unit.id)))[0];
    const what = memoryPressure ? 'memory' : 'disk';
    const words = memoryPressure
      ? this.#memoryWords(resources, memoryReserve)
      : this.#diskWords(resources, diskReserve);
    if (!victim) {
      this.#options.log.warn({ resource: what }, 'device under pressure with nothing to evict');
      this.#lastEviction = now;
      return;
    }
    const unit = this.#running.find((u) => u.id === victim.id)!;
    const message = `evicted: the device was low on ${what} (${words}); ${victim.qos}, priority ${victim.priority}: first in the eviction order of the running workloads (lower priority, then BestEffort, Burstable, Guaranteed)`;
    this.#evictions.set(unit.id, { id: unit.id, hash: unit.hash, kind: unit.ref.kind, message, at: now });
    this.#lastEviction = now;
    this.#options.log.warn(
      { unit: unit.id, resource: what, qos: victim.qos, priority: victim.priority },
      'evicting unit under pressure',
    );
    await this.#save();
    this.#options.onChange();
  }

  /** Drops evictions of units that left the Mailbox or changed (a new hash is a new start). */
  #forget(units: readonly DesiredUnit[]): void {
    const current = new Map(units.map((unit) => [unit.id, unit.hash]));
    let changed = false;
    for (const [id, eviction] of this.#evictions)
      if (current.get(id) !== eviction.hash) {
        this.#evictions.delete(id);
        changed = true;
      }
    if (changed) void this.#save();
  }

  #memoryWords(resources: DeviceResources, reserve: number): string {
    return `${formatBytes(resources.memoryAvailable)} of memory available${
      resources.memorySource === 'posted' ? ' (as posted)' : ''
    }, below --reserve-memory ${formatBytes(reserve)}`;
  }

  #diskWords(resources: DeviceResources, reserve: number): string {
    return `${formatBytes(resources.diskAvailable)} of disk available${
      resources.diskSource === 'posted' ? ' (as posted)' : ''
    } in the data dir's filesystem, below --reserve-disk ${formatBytes(reserve)}`;
  }

  async #save(): Promise<void> {
    const text = JSON.stringify({ evictions: [...this.#evictions.values()] });
    await writeFileAtomic(join(this.#options.dataDir, STATE_FILE), text, 0o600).catch((error: unknown) =>
      this.#options.log.warn({ err: (error as Error).message }, 'evictions not saved'),
    );
  }
}
