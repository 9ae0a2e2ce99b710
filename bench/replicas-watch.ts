/**
 * Watch fan-out across hub replicas on one PostgreSQL database: a writer
 * creates ConfigMaps through replica 0 while watchers on replicas 1 and 2
 * (and 0) receive them.
 *
 * - latency from a write sent to replica 0 to its event on the other
 *   replicas, p50 / p99, with the writer paced at 1,000 writes/s (goal p99 <
 *   100 ms), and again at half the rate this machine sustained, for a reading
 *   that is not queueing alone;
 * - write throughput (closed loop, as fast as it goes) with those watchers
 *   open against without any (goal ≥ 80 %).
 *
 *   npm run bench -- replicas-watch        (BENCH_SECONDS=N per phase, default 5)
 */
import { setMaxListeners } from 'node:events';
import type { Dispatcher } from 'undici';
import { type ReplicaSet, startReplicaSet } from '../test/support/index.ts';
import {
  benchConfigMap,
  closedLoop,
  credentialsOf,
  fmt,
  goalLine,
  machineLoad,
  pool,
  report,
  roundMs,
  summarize,
  table,
} from './support/index.ts';

const COLLECTION = '/api/v1/namespaces/default/configmaps';
/** Watchers per replica. */
const WATCHERS_PER_REPLICA = 5;
const IN_FLIGHT = 64;
const CONNECTIONS = 16;
const PACED_RATE = 1000;
const MAX_PACED_IN_FLIGHT = 512;
const GOAL_P99_MS = 100;
const GOAL_RATIO = 0.8;

/** Arrival times of events by object name, per watcher. */
interface Watcher {
  readonly replica: number;
  readonly arrivals: Map<string, number>;
  readonly done: Promise<void>;
}

function openWatcher(
  dispatcher: Dispatcher,
  origin: string,
  replica: number,
  revision: string,
  signal: AbortSignal,
): Promise<Watcher> {
  return new Promise((resolve, reject) => {
    const arrivals = new Map<string, number>();
    let settle: () => void = () => {};
    const ended = new Promise<void>((r) => {
      settle = r;
    });
    const done = (async () => {
      const response = await dispatcher.request({
        origin,
        method: 'GET',
        path: `${COLLECTION}?watch=true&resourceVersion=${revision}`,
        signal,
      });
      if (response.statusCode !== 200)
        throw new Error(`watch: ${response.statusCode} ${await response.body.text()}`);
      resolve({ replica, arrivals, done: ended });
      let pending = '';
      try {
        for await (const chunk of response.body as AsyncIterable<Buffer>) {
          const at = performance.now();
          pending += chunk.toString();
          let newline = pending.indexOf('\n');
          while (newline !== -1) {
            // The name is the object's first "name" (metadata comes first in what the hub renders).
            const name = /"name":"([^"]+)"/.exec(pending.slice(0, newline))?.[1];
            if (name) arrivals.set(name, at);
            pending = pending.slice(newline + 1);
            newline = pending.indexOf('\n');
          }
        }
      } catch {
        // aborted at the end of the phase
      }
    })();
    done.then(settle, reject);
  });
}

async function headRevision(set: ReplicaSet): Promise<string> {
  const list = await set.clients[0]!.request('GET', `${COLLECTION}?limit=1`);
  return list.json().metadata.resourceVersion as string;
}

/** Opens WATCHERS_PER_REPLICA watchers on each replica from the current revision. */
async function openWatchers(set: ReplicaSet, signal: AbortSignal) {
  const revision = await headRevision(set);
  const dispatchers: Dispatcher[] = [];
  const watchers: Watcher[] = [];
  for (const [replica, hub] of set.hubs.entries()) {
    const credentials = credentialsOf(hub.kubeconfig);
    const dispatcher = pool(credentials, WATCHERS_PER_REPLICA);
    dispatchers.push(dispatcher);
    for (let i = 0; i < WATCHERS_PER_REPLICA; i++)
      watchers.push(await openWatcher(dispatcher, credentials.origin, replica, revision, signal));
  }
  return { watchers, close: () => Promise.all(dispatchers.map((d) => d.destroy())) };
}

/** Closed-loop creates through replica 0 for `durationMs`; returns writes/s. */
async function maxRate(
  set: ReplicaSet,
  run: string,
  durationMs: number,
): Promise<{ rate: number; names: string[] }> {
  const credentials = credentialsOf(set.hubs[0]!.kubeconfig);
  const dispatcher = pool(credentials, CONNECTIONS);
  const names: string[] = [];
  const load = await closedLoop({
    dispatcher,
    origin: credentials.origin,
    inFlight: IN_FLIGHT,
    durationMs,
    request: (i) => {
      const name = `${run}-${i}`;
      names.push(name);
      return { method: 'POST', path: COLLECTION, body: JSON.stringify(benchConfigMap(name, i)) };
    },
    expectStatus: 201,
  });
  await dispatcher.close();
  if (load.failed > 0) console.log(`${run}: ${load.failed} failed, first: ${load.firstFailure}`);
  return { rate: (load.ok / load.elapsedMs) * 1000, names };
}

/** Open-loop creates through replica 0 at `rate`/s; returns each name's send time and the achieved rate. */
async function paced(set: ReplicaSet, run: string, rate: number, durationMs: number) {
  const credentials = credentialsOf(set.hubs[0]!.kubeconfig);
  const dispatcher = pool(credentials, CONNECTIONS);
  const sentAt = new Map<string, number>();
  const ackedAt = new Map<string, number>();
  const inFlight = new Set<Promise<void>>();
  let ok = 0;
  let skipped = 0;
  const started = performance.now();
  let sent = 0;
  while (performance.now() - started < durationMs) {
    // Send whatever the schedule says is due, then yield for a millisecond.
    const due = Math.floor(((performance.now() - started) / 1000) * rate);
    while (sent < due) {
      const i = sent++;
      if (inFlight.size >= MAX_PACED_IN_FLIGHT) {
        skipped++;
        continue;
      }
      const name = `${run}-${i}`;
      sentAt.set(name, performance.now());
      const request = dispatcher
        .request({
          origin: credentials.origin,
          method: 'POST',
          path: COLLECTION,
          body: JSON.stringify(benchConfigMap(name, i)),
          headers: { 'content-type': 'application/json' },
        })
        .then(async (response) => {
          await response.body.text();
          if (response.statusCode === 201) {
            ok++;
            ackedAt.set(name, performance.now());
          }
        });
      inFlight.add(request);
      void request.finally(() => inFlight.delete(request));
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(inFlight);
  const elapsed = performance.now() - started;
  await dispatcher.close();
  return { sentAt, ackedAt, achieved: (ok / elapsed) * 1000, skipped };
}

/** Waits until every watcher has every name (or 30 s), then returns the latencies to the other replicas. */
async function fanOut(watchers: Watcher[], sentAt: Map<string, number>) {
  const deadline = performance.now() + 30_000;
  const complete = () => watchers.every((w) => [...sentAt.keys()].every((name) => w.arrivals.has(name)));
  while (!complete() && performance.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 100));
  const latencies: number[] = [];
  let missing = 0;
  for (const watcher of watchers.filter((w) => w.replica !== 0)) {
    for (const [name, at] of sentAt) {
      const arrival = watcher.arrivals.get(name);
      if (arrival === undefined) missing++;
      else latencies.push(arrival - at);
    }
  }
  return { latency: summarize(latencies), missing };
}

// Every watcher's request listens on the phase's one abort signal.
setMaxListeners(64);
const set = await startReplicaSet({ replicas: 3 });
try {
  const seconds = roundMs(5);
  console.log(
    `replicas-watch: three hub replicas on one PostgreSQL 15; the writer creates ConfigMaps through replica 0,` +
      `\n${WATCHERS_PER_REPLICA} watchers on each replica (HTTPS, ?watch=true from the head); latency = event received on` +
      ` replica 1 or 2 minus the write's send time ("after ack": minus its acknowledgement); phases of ${seconds / 1000} s`,
  );
  console.log(`${machineLoad()}\n`);
  await maxRate(set, 'warm', seconds); // JIT and connections; not counted
  const without = await maxRate(set, 'bare', seconds);
  const stop = new AbortController();
  const opened = await openWatchers(set, stop.signal);
  const withWatchers = await maxRate(set, 'watched', seconds);
  const closedFanOut = await fanOut(opened.watchers, new Map(withWatchers.names.map((name) => [name, 0])));
  const pacedRuns = [];
  for (const rate of [PACED_RATE, Math.max(10, Math.round(without.rate / 2))]) {
    const run = await paced(set, `paced${rate}`, rate, seconds);
    const { latency, missing } = await fanOut(opened.watchers, run.sentAt);
    const afterAck = await fanOut(opened.watchers, run.ackedAt);
    const write = summarize([...run.ackedAt].map(([name, at]) => at - run.sentAt.get(name)!));
    pacedRuns.push({ rate, ...run, latency, missing, afterAck: afterAck.latency, write });
  }
  stop.abort();
  await opened.close();
  console.log(
    table(
      [
        'writer',
        'target writes/s',
        'achieved writes/s',
        'write p50 ms',
        'fan-out p50 ms',
        'p99 ms',
        'max ms',
        'after ack p50 ms',
        'p99 ms',
        'not sent (cap)',
        'events missing',
      ],
      pacedRuns.map((r) => [
        'paced, replica 0',
        fmt(r.rate),
        fmt(r.achieved),
        fmt(r.write.p50),
        fmt(r.latency.p50),
        fmt(r.latency.p99),
        fmt(r.latency.max),
        fmt(r.afterAck.p50),
        fmt(r.afterAck.p99),
        String(r.skipped),
        String(r.missing),
      ]),
    ),
  );
  const ratio = withWatchers.rate / without.rate;
  console.log(
    `\n${table(
      ['closed loop through replica 0', 'writes/s'],
      [
        ['no watcher', fmt(without.rate)],
        [
          `${WATCHERS_PER_REPLICA * set.hubs.length} watchers (${WATCHERS_PER_REPLICA} per replica)`,
          fmt(withWatchers.rate),
        ],
      ],
    )}\nwith / without: ${fmt(ratio, 2)}; events missing after the closed-loop phase: ${closedFanOut.missing}`,
  );
  console.log(machineLoad());
  const p99 = pacedRuns[0]!.latency.p99;
  const latencyMet = p99 < GOAL_P99_MS && pacedRuns[0]!.achieved >= PACED_RATE * 0.95;
  const ratioMet = ratio >= GOAL_RATIO;
  console.log(goalLine(`fan-out p99 < ${GOAL_P99_MS} ms at ${fmt(PACED_RATE)} writes/s`, latencyMet));
  console.log(goalLine(`writes/s with watchers ≥ ${GOAL_RATIO * 100} % of without`, ratioMet));
  report('replicas-watch', {
    goalMet: latencyMet && ratioMet,
    paced: pacedRuns.map((r) => ({ rate: r.rate, achieved: r.achieved, ...r.latency, missing: r.missing })),
    without: without.rate,
    withWatchers: withWatchers.rate,
    ratio,
  });
} finally {
  await set.stop();
}
