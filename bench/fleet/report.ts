/** The fleet benchmark's tables, ratios and goal lines. */
import { fmt, goalLine, machineLoad, quantile, report as result, table } from '../support/index.ts';
import type { FanoutResult, ReconnectResult, SteadyResult, StormResult } from './phases.ts';

const GOAL_P99_MS = 250;
const GOAL_BYTES_PER_DEVICE = 64 * 1024;
const GOAL_FANOUT_SECONDS = 10;
const GOAL_RECONNECT_SECONDS = 20;

interface Side {
  readonly steady: SteadyResult;
  readonly fanout: FanoutResult;
  readonly storms: StormResult;
  readonly reconnect: ReconnectResult;
}

export interface FleetReport {
  readonly devices: number;
  readonly windowSeconds: number;
  readonly hub: Side & { readonly restartRss: number };
  readonly baseline?: Side;
  readonly mailboxBytes: number;
}

const kb = (bytes: number) => fmt(bytes / 1024, 1);
const mb = (bytes: number) => fmt(bytes / 1024 ** 2, 0);
const perDevice = (s: SteadyResult, n: number) => (s.connectedRss - s.idleRss) / n;
/** The second half of the fleet's share: the cost of one more device, the server's warm-up left out. */
const marginal = (s: SteadyResult, n: number) => (s.connectedRss - s.halfRss) / (n - Math.ceil(n / 2));
/** The time by which `count` agents had the change (the last when fewer). */
const nth = (arrivals: readonly number[], count: number) =>
  arrivals[Math.min(arrivals.length, count) - 1] ?? Number.NaN;

export function report(r: FleetReport): void {
  const sides: [string, Side][] = [['hub', r.hub]];
  if (r.baseline) sides.push(['bare h2', r.baseline]);
  const n = r.devices;

  console.log(
    `\nheartbeats: ${n} devices connected, every 15 s; ${r.windowSeconds} s window after one settling period`,
  );
  console.log(
    table(
      [
        'server',
        'beats/s',
        'p50 ms',
        'p90 ms',
        'p99 ms',
        'max ms',
        'failed',
        'server CPU (cores)',
        'sim CPU (cores)',
        'sim loop delay p99 ms',
        'server RSS idle MB',
        'half MB',
        'all MB',
        'KB per device',
        'KB per device, 2nd half',
      ],
      sides.map(([name, side]) => {
        const s = side.steady;
        return [
          name,
          fmt(s.beatsPerSecond),
          fmt(s.latency.p50),
          fmt(s.latency.p90),
          fmt(s.latency.p99),
          fmt(s.latency.max),
          String(s.failed),
          fmt(s.cpu.server / s.cpu.seconds),
          fmt(s.cpu.simulator / s.cpu.seconds),
          fmt(s.loopDelayP99),
          mb(s.idleRss),
          mb(s.halfRss),
          mb(s.connectedRss),
          kb(perDevice(s, n)),
          kb(marginal(s, n)),
        ];
      }),
    ),
  );
  console.log(
    table(
      [
        'server',
        'connect all s',
        'server CPU s',
        'sim CPU s',
        'server CPU ms per device',
        'simulator RSS MB',
      ],
      sides.map(([name, side]) => {
        const s = side.steady;
        return [
          name,
          fmt(s.connectSeconds, 1),
          fmt(s.connectCpu.server, 1),
          fmt(s.connectCpu.simulator, 1),
          fmt((s.connectCpu.server / n) * 1000),
          mb(s.simulatorRss),
        ];
      }),
    ),
  );

  console.log(
    `\nfan-out: one change until every agent's watch delivered it (Mailbox event ${fmt(r.mailboxBytes / 1000, 1)} kB); seconds from sending the write`,
  );
  console.log(
    table(
      ['server', 'write answered', 'first', 'p50', 'p99', '10,000th', 'last', 'server CPU s', 'sim CPU s'],
      sides.map(([name, side]) => {
        const f = side.fanout;
        return [
          name,
          fmt(f.writeAnswered, 2),
          fmt(f.arrivals[0] ?? Number.NaN, 2),
          fmt(quantile(f.arrivals, 0.5), 2),
          fmt(quantile(f.arrivals, 0.99), 2),
          fmt(nth(f.arrivals, 10_000), 2),
          fmt(f.arrivals[f.arrivals.length - 1] ?? Number.NaN, 2),
          fmt(f.cpu.server, 1),
          fmt(f.cpu.simulator, 1),
        ];
      }),
    ),
  );

  console.log(
    `\nreconnect storms: every connection dropped at once, ${r.hub.storms.allBack.length} times, against the same server process; RSS once all were back and one heartbeat period later`,
  );
  console.log(
    table(
      ['server', 'all back s', 'RSS before MB', 'RSS when back MB', 'RSS settled MB', 'server CPU s'],
      sides.map(([name, side]) => {
        const t = side.storms;
        return [
          name,
          t.allBack.map((s) => fmt(s, 1)).join(' / '),
          mb(t.rssBefore),
          t.rssBack.map(mb).join(' / '),
          t.rssSettled.map(mb).join(' / '),
          fmt(t.cpu.server, 1),
        ];
      }),
    ),
  );
  for (const [name, side] of sides) {
    side.storms.back.forEach((back, i) => {
      if (back < n) console.log(`  ${name}: only ${back} of ${n} back when storm ${i + 1}'s wait ended`);
    });
    const errors = [...side.storms.errors].map(([what, count]) => `${what} x${count}`).join('; ');
    console.log(`  failures the agents saw in the storms (${name}): ${errors || 'none'}`);
  }

  console.log('\nreconnect: the server stopped (SIGTERM) and started again on the same data and port');
  console.log(
    table(
      [
        'server',
        'stop s',
        'start s',
        'ready -> 10,000th back s',
        'ready -> all back s',
        'stop -> all back s',
        'peak reconnects/s',
        'server CPU s',
        'sim CPU s',
      ],
      sides.map(([name, side]) => {
        const c = side.reconnect;
        return [
          name,
          fmt(c.stopSeconds, 1),
          fmt(c.startSeconds, 1),
          fmt(c.tenThousandth, 1),
          fmt(c.fromReady, 1),
          fmt(c.fromStop, 1),
          fmt(Math.max(...c.perSecond)),
          fmt(c.cpu.server, 1),
          fmt(c.cpu.simulator, 1),
        ];
      }),
    ),
  );
  for (const [name, side] of sides) {
    const c = side.reconnect;
    console.log(`reconnects per second after ready, ${name}: ${c.perSecond.join(' ')}`);
    if (c.back < n) console.log(`  ${name}: only ${c.back} of ${n} back when the wait ended`);
    const errors = [...c.errors].map(([what, count]) => `${what} x${count}`).join('; ');
    console.log(`  failures the agents saw (${name}): ${errors || 'none'}`);
  }
  console.log(`hub RSS after the reconnect: ${mb(r.hub.restartRss)} MB`);

  const hub = r.hub;
  const base = r.baseline;
  if (base) {
    const lastHub = hub.fanout.arrivals.at(-1)!;
    const lastBase = base.fanout.arrivals.at(-1)!;
    console.log(
      `\nhub / bare: heartbeat p99 ${fmt(hub.steady.latency.p99 / base.steady.latency.p99, 2)}x,` +
        ` server CPU per beat ${fmt(hub.steady.cpu.server / hub.steady.beatsPerSecond / (base.steady.cpu.server / base.steady.beatsPerSecond), 2)}x,` +
        ` memory per device ${fmt(perDevice(hub.steady, n) / perDevice(base.steady, n), 2)}x` +
        ` (2nd half: ${fmt(marginal(hub.steady, n) / marginal(base.steady, n), 2)}x),` +
        ` fan-out to the last agent ${fmt(lastHub / lastBase, 2)}x,` +
        ` storm (all back) ${hub.storms.allBack.map((t, i) => fmt(t / base.storms.allBack[i]!, 2)).join(' / ')}x,` +
        ` reconnect (ready -> all back) ${fmt(hub.reconnect.fromReady / base.reconnect.fromReady, 2)}x`,
    );
  }
  console.log(machineLoad());
  const p99Met = hub.steady.latency.p99 < GOAL_P99_MS && hub.steady.failed === 0;
  const memoryMet = perDevice(hub.steady, n) < GOAL_BYTES_PER_DEVICE;
  const fanoutMet = nth(hub.fanout.arrivals, 10_000) < GOAL_FANOUT_SECONDS;
  const reconnectMet = hub.reconnect.back === n && hub.reconnect.fromReady < GOAL_RECONNECT_SECONDS;
  const scaleMet = n >= 10_000;
  console.log(goalLine(`heartbeat p99 under ${GOAL_P99_MS} ms with ${n} devices, none failed`, p99Met));
  console.log(goalLine('hub memory under 64 KB per connected device', memoryMet));
  console.log(
    goalLine(`a Placement change reaches 10,000 agents within ${GOAL_FANOUT_SECONDS} s`, fanoutMet),
  );
  console.log(
    goalLine(
      `every agent back within ${GOAL_RECONNECT_SECONDS} s of the restarted hub's ready line`,
      reconnectMet,
    ),
  );
  console.log(goalLine('at least 10,000 devices (20,000 wanted)', scaleMet));
  result('fleet-scale', {
    goalMet: p99Met && memoryMet && fanoutMet && reconnectMet && scaleMet,
    devices: n,
    heartbeat: hub.steady.latency,
    bytesPerDevice: perDevice(hub.steady, n),
    bytesPerDeviceSecondHalf: marginal(hub.steady, n),
    fanoutLast: hub.fanout.arrivals.at(-1),
    fanoutTenThousandth: nth(hub.fanout.arrivals, 10_000),
    reconnectFromReady: hub.reconnect.fromReady,
    reconnectFromStop: hub.reconnect.fromStop,
    stormAllBack: hub.storms.allBack,
    stormRss: { before: hub.storms.rssBefore, back: hub.storms.rssBack, settled: hub.storms.rssSettled },
    baseline: base
      ? {
          heartbeat: base.steady.latency,
          bytesPerDevice: perDevice(base.steady, n),
          bytesPerDeviceSecondHalf: marginal(base.steady, n),
          fanoutLast: base.fanout.arrivals.at(-1),
          reconnectFromReady: base.reconnect.fromReady,
          stormAllBack: base.storms.allBack,
        }
      : undefined,
  });
}
