/**
 * A fleet of simulated agents in this process (see `device.ts`), pointed at
 * one server (the hub or the baseline), with what the benchmarks read off
 * it: heartbeat latencies, connects over time, and when each device saw a
 * marked watch event.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { type DeviceListener, SimDevice } from './device.ts';
import type { DeviceIdentity } from './enroll.ts';

/** Heartbeat outcomes of a measuring window. */
export interface HeartbeatWindow {
  readonly latencies: number[];
  readonly failed: number;
  /** The simulator's event-loop delay p99 over the window (ms): its own queueing, inside the latencies. */
  readonly loopDelayP99: number;
}

export class Fleet implements DeviceListener {
  readonly devices: SimDevice[];
  /** Devices whose watch is established now. */
  connected = 0;
  /** Every time a device (re)connected, `performance.now()`. */
  readonly ups: number[] = [];
  #started = 0;
  #errors = new Map<string, number>();
  #latencies: number[] | undefined;
  #failed = 0;
  #markerTimes: number[] = [];
  #onChange: (() => void) | undefined;
  /** Devices whose watch came back since the last {@link dropAll}. */
  #rejoined: Set<SimDevice> | undefined;

  constructor(identities: readonly DeviceIdentity[], caPem: string, origin: string) {
    this.devices = identities.map((identity) => new SimDevice(identity, caPem, origin, this));
  }

  up(device: SimDevice): void {
    this.#rejoined?.add(device);
    this.connected++;
    this.ups.push(performance.now());
    this.#onChange?.();
  }

  down(): void {
    this.connected--;
  }

  heartbeat(_device: SimDevice, ms: number, ok: boolean): void {
    if (!this.#latencies) return;
    if (ok) this.#latencies.push(ms);
    else this.#failed++;
  }

  marker(_device: SimDevice, at: number): void {
    this.#markerTimes.push(at);
    this.#onChange?.();
  }

  /**
   * Starts devices until `count` run (those started before keep running), at
   * most `concurrency` connecting at once (a fleet coming up, not a herd);
   * resolves when all of them are connected. Heartbeat phases are spread
   * uniformly over the period.
   */
  async connect(count: number, concurrency: number, periodMs: number, timeoutMs: number): Promise<number> {
    const started = performance.now();
    const target = Math.min(count, this.devices.length);
    let next = this.#started;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`only ${this.connected} of ${target} devices connected`)),
        timeoutMs,
      );
      const fill = () => {
        // Started but not yet connected devices hold a slot.
        while (next < target && next - this.connected < concurrency) {
          this.devices[next++]!.start(Math.random() * periodMs);
        }
        this.#started = next;
        if (this.connected >= target) {
          clearTimeout(timer);
          this.#onChange = undefined;
          resolve();
        }
      };
      this.#onChange = fill;
      fill();
    });
    return performance.now() - started;
  }

  /** Collects heartbeat latencies for `ms`. */
  async heartbeats(ms: number): Promise<HeartbeatWindow> {
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    this.#latencies = [];
    this.#failed = 0;
    await new Promise((resolve) => setTimeout(resolve, ms));
    loop.disable();
    const latencies = this.#latencies;
    this.#latencies = undefined;
    return { latencies, failed: this.#failed, loopDelayP99: loop.percentile(99) / 1e6 };
  }

  /** Arms every device with `marker`; the returned wait resolves with each device's sighting time, or rejects after `timeoutMs`. */
  arm(marker: string): { all(timeoutMs: number): Promise<number[]> } {
    this.#markerTimes = [];
    for (const device of this.devices) device.arm(marker);
    return {
      all: (timeoutMs) =>
        new Promise((resolve, reject) => {
          const timer = setTimeout(() => {
            this.#onChange = undefined;
            reject(new Error(`${this.#markerTimes.length} of ${this.devices.length} devices saw the change`));
          }, timeoutMs);
          this.#onChange = () => {
            if (this.#markerTimes.length < this.devices.length) return;
            clearTimeout(timer);
            this.#onChange = undefined;
            resolve(this.#markerTimes);
          };
          this.#onChange();
        }),
    };
  }

  /** Resolves true when every device is connected again, false when `timeoutMs` passed first. */
  allConnected(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#onChange = undefined;
        resolve(false);
      }, timeoutMs);
      this.#onChange = () => {
        if (this.connected < this.devices.length) return;
        clearTimeout(timer);
        this.#onChange = undefined;
        resolve(true);
      };
      this.#onChange();
    });
  }

  /**
   * Breaks every device's connection at once (a network blip, a load balancer
   * restarting) against the same server process; resolves with the times
   * (`performance.now()`) at which each device's watch came back, all of them
   * or those back when `timeoutMs` passed.
   */
  async dropAll(timeoutMs: number): Promise<{ droppedAt: number; backAt: number[]; back: number }> {
    const rejoined = new Set<SimDevice>();
    this.#rejoined = rejoined;
    const firstUp = this.ups.length;
    const droppedAt = performance.now();
    await Promise.all(this.devices.map((device) => device.drop()));
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#onChange = undefined;
        resolve();
      }, timeoutMs);
      this.#onChange = () => {
        if (rejoined.size < this.devices.length) return;
        clearTimeout(timer);
        this.#onChange = undefined;
        resolve();
      };
      this.#onChange();
    });
    this.#rejoined = undefined;
    return { droppedAt, backAt: this.ups.slice(firstUp), back: rejoined.size };
  }

  /** Why requests failed so far (`list 401`, `watch: other side closed`, ...), with counts; cleared by reading. */
  takeErrors(): Map<string, number> {
    const errors = this.#errors;
    this.#errors = new Map();
    return errors;
  }

  failure(_device: SimDevice, what: string): void {
    this.#errors.set(what, (this.#errors.get(what) ?? 0) + 1);
  }

  async stop(): Promise<void> {
    await Promise.all(this.devices.map((device) => device.stop()));
  }
}
