/**
 * The three measurements of the fleet benchmark, each run the same way
 * against the hub and against the baseline server: a connected fleet's
 * heartbeats (latency, server memory per device), one change reaching every
 * agent's watch, and the fleet reconnecting after the server restarts.
 */
import { cpuSeconds, ownCpuSeconds, summarize } from '../support/index.ts';
import type { Fleet } from './fleet.ts';
import { rssBytes, type ServerProcess } from './servers.ts';

/** CPU seconds of the server and of this (simulator) process over a phase. */
export interface CpuSplit {
  readonly server: number;
  readonly simulator: number;
  readonly seconds: number;
}

/** Runs `work`, measuring the CPU of `pid` (the server) and of this process. */
export async function withCpu<T>(
  pid: () => number,
  work: () => Promise<T>,
): Promise<{ result: T; cpu: CpuSplit }> {
  const serverBefore = cpuSeconds(pid());
  const ownBefore = ownCpuSeconds();
  const started = performance.now();
  const result = await work();
  return {
    result,
    cpu: {
      server: cpuSeconds(pid()) - serverBefore,
      simulator: ownCpuSeconds() - ownBefore,
      seconds: (performance.now() - started) / 1000,
    },
  };
}

export interface SteadyResult {
  readonly connectSeconds: number;
  readonly connectCpu: CpuSplit;
  readonly latency: ReturnType<typeof summarize>;
  readonly beatsPerSecond: number;
  readonly failed: number;
  readonly loopDelayP99: number;
  readonly cpu: CpuSplit;
  /** Server RSS before any device connected, with half of them, with all (after the window). */
  readonly idleRss: number;
  readonly halfRss: number;
  readonly connectedRss: number;
  readonly simulatorRss: number;
}

/**
 * Connects half the fleet, lets one heartbeat period pass, then the other
 * half and one more period (`concurrency` connecting at a time); then
 * collects heartbeats for `windowMs`. The server's memory is read idle,
 * with half the fleet and with all of it (after the window): the second
 * half's share is the cost of a device without the server's warm-up.
 */
export async function steady(
  fleet: Fleet,
  server: ServerProcess,
  options: { concurrency: number; periodMs: number; windowMs: number; connectTimeoutMs: number },
): Promise<SteadyResult> {
  const pid = () => server.process.pid!;
  const settle = () => new Promise((resolve) => setTimeout(resolve, options.periodMs));
  const n = fleet.devices.length;
  const idleRss = rssBytes(pid());
  const first = await withCpu(pid, () =>
    fleet.connect(Math.ceil(n / 2), options.concurrency, options.periodMs, options.connectTimeoutMs),
  );
  await settle();
  const halfRss = rssBytes(pid());
  const second = await withCpu(pid, () =>
    fleet.connect(n, options.concurrency, options.periodMs, options.connectTimeoutMs),
  );
  // Every device beats once before measuring: phases spread, code warm.
  await settle();
  const window = await withCpu(pid, () => fleet.heartbeats(options.windowMs));
  return {
    connectSeconds: (first.result + second.result) / 1000,
    connectCpu: {
      server: first.cpu.server + second.cpu.server,
      simulator: first.cpu.simulator + second.cpu.simulator,
      seconds: first.cpu.seconds + second.cpu.seconds,
    },
    latency: summarize(window.result.latencies),
    beatsPerSecond: window.result.latencies.length / window.cpu.seconds,
    failed: window.result.failed,
    loopDelayP99: window.result.loopDelayP99,
    cpu: window.cpu,
    idleRss,
    halfRss,
    connectedRss: rssBytes(pid()),
    simulatorRss: process.memoryUsage.rss(),
  };
}

export interface FanoutResult {
  /** Seconds from sending the write to each agent seeing the change, sorted. */
  readonly arrivals: number[];
  /** Seconds until the write was answered. */
  readonly writeAnswered: number;
  readonly cpu: CpuSplit;
}

/** Arms the fleet with `marker`, runs `write` (which makes every agent's watch carry it) and waits for all. */
export async function fanout(
  fleet: Fleet,
  server: ServerProcess,
  marker: string,
  write: () => Promise<void>,
  timeoutMs: number,
): Promise<FanoutResult> {
  const armed = fleet.arm(marker);
  let answered = 0;
  const { result, cpu } = await withCpu(
    () => server.process.pid!,
    async () => {
      const sent = performance.now();
      const all = armed.all(timeoutMs);
      await write();
      answered = (performance.now() - sent) / 1000;
      const times = await all;
      return times.map((at) => (at - sent) / 1000).sort((a, b) => a - b);
    },
  );
  return { arrivals: result, writeAnswered: answered, cpu };
}

export interface ReconnectResult {
  /** Devices whose watch was back when the wait ended (all, unless it timed out). */
  readonly back: number;
  /** Failures the devices saw from the stop until all were back (or the wait ended). */
  readonly errors: Map<string, number>;
  readonly stopSeconds: number;
  readonly startSeconds: number;
  /** From the restarted server's ready line to the last device's watch. */
  readonly fromReady: number;
  /** From the stop signal to the last device's watch. */
  readonly fromStop: number;
  /** Seconds after ready at which 10,000 devices (or all, when fewer) were back. */
  readonly tenThousandth: number;
  /** Reconnects per second after the restarted server's ready line (second 0, 1, ...). */
  readonly perSecond: number[];
  /** Server CPU from ready until all were back, and the simulator's. */
  readonly cpu: CpuSplit;
}

/**
 * Stops the server (SIGTERM: it drops every connection), waits until every
 * device noticed, starts it again with `restart` (same data, same port), and
 * waits until every device's watch is back.
 */
export async function reconnect(
  fleet: Fleet,
  server: ServerProcess,
  restart: () => Promise<ServerProcess>,
  timeoutMs: number,
): Promise<{ result: ReconnectResult; server: ServerProcess }> {
  const stopAt = performance.now();
  await server.stop('SIGTERM');
  const stopSeconds = (performance.now() - stopAt) / 1000;
  const deadline = performance.now() + 30_000;
  while (fleet.connected > 0 && performance.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 50));
  const firstUp = fleet.ups.length;
  fleet.takeErrors();
  const startAt = performance.now();
  const restarted = await restart();
  const readyAt = performance.now();
  const { cpu } = await withCpu(
    () => restarted.process.pid!,
    () => fleet.allConnected(timeoutMs),
  );
  const doneAt = performance.now();
  const back = fleet.connected;
  const errors = fleet.takeErrors();
  const ups = fleet.ups.slice(firstUp).map((at) => (at - readyAt) / 1000);
  const perSecond: number[] = [];
  for (const second of ups) {
    const bucket = Math.max(0, Math.floor(second));
    while (perSecond.length <= bucket) perSecond.push(0);
    perSecond[bucket]!++;
  }
  const sorted = [...ups].sort((a, b) => a - b);
  return {
    server: restarted,
    result: {
      back,
      errors,
      stopSeconds,
      startSeconds: (readyAt - startAt) / 1000,
      fromReady: (doneAt - readyAt) / 1000,
      fromStop: (doneAt - stopAt) / 1000,
      tenThousandth: sorted[Math.min(sorted.length, 10_000) - 1] ?? Number.NaN,
      perSecond,
      cpu,
    },
  };
}

export interface StormResult {
  /** Seconds from dropping every connection to the last device's watch being back, per storm (NaN: not all were). */
  readonly allBack: number[];
  /** Devices back when each storm's wait ended (all, unless it timed out). */
  readonly back: number[];
  /** The server's RSS before the first storm, after each storm once all were back, and one heartbeat period later. */
  readonly rssBefore: number;
  readonly rssBack: number[];
  readonly rssSettled: number[];
  /** Server CPU over all storms (from the drops to the settled reading), and the simulator's. */
  readonly cpu: CpuSplit;
  readonly errors: Map<string, number>;
}

/**
 * Reconnect storms against the same server process: every device's
 * connection dropped at once, `storms` times, each followed by one
 * heartbeat period to settle. The server's memory is read before, once all
 * are back and after the settling period: what a storm leaves behind.
 */
export async function storms(
  fleet: Fleet,
  server: ServerProcess,
  options: { storms: number; periodMs: number; timeoutMs: number },
): Promise<StormResult> {
  const pid = () => server.process.pid!;
  fleet.takeErrors();
  const rssBefore = rssBytes(pid());
  const allBack: number[] = [];
  const back: number[] = [];
  const rssBack: number[] = [];
  const rssSettled: number[] = [];
  const { cpu } = await withCpu(pid, async () => {
    for (let i = 0; i < options.storms; i++) {
      const storm = await fleet.dropAll(options.timeoutMs);
      back.push(storm.back);
      allBack.push(
        storm.back < fleet.devices.length ? Number.NaN : (Math.max(...storm.backAt) - storm.droppedAt) / 1000,
      );
      rssBack.push(rssBytes(pid()));
      await new Promise((resolve) => setTimeout(resolve, options.periodMs));
      rssSettled.push(rssBytes(pid()));
    }
  });
  return { allBack, back, rssBefore, rssBack, rssSettled, cpu, errors: fleet.takeErrors() };
}
