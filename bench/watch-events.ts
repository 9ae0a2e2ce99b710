/**
 * Watch events delivered per second to N watchers (each its own HTTPS
 * connection, `?watch=true&resourceVersion=RV` on the ConfigMaps of
 * `default`) while one writer creates ConfigMaps as fast as it can (64 in
 * flight over 16 connections). Baseline: the writer's creates/s with no
 * watcher, measured first on the same hub. Every watcher must receive every
 * event; the figure counts until the last watcher has the last one.
 *
 *   npm run bench -- watch-events          (BENCH_SECONDS=N of writing per phase, default 5)
 */
import type { Dispatcher } from 'undici';
import { removeDir, startHubProcess } from '../test/support/index.ts';
import {
  benchConfigMap,
  closedLoop,
  cpuMeter,
  credentialsOf,
  fmt,
  goalLine,
  hubArgs,
  hubEnv,
  machineLoad,
  pool,
  report,
  roundMs,
  startProfiling,
  summarize,
  table,
} from './support/index.ts';

const WATCHERS = [0, 1, 10, 100];
const IN_FLIGHT = 64;
const CONNECTIONS = 16;
const DRAIN_TIMEOUT_MS = 60_000;
const COLLECTION = '/api/v1/namespaces/default/configmaps';

interface Watcher {
  events: number;
  /** When the watcher had received `target` events (performance.now()). */
  doneAt?: number;
  ended: boolean;
}

/** Opens a watch from `revision` and counts events (one per line) until `target` is set and reached. */
async function openWatcher(
  dispatcher: Dispatcher,
  origin: string,
  revision: string,
  state: { target: number },
): Promise<Watcher> {
  const watcher: Watcher = { events: 0, ended: false };
  const response = await dispatcher.request({
    origin,
    method: 'GET',
    path: `${COLLECTION}?watch=true&resourceVersion=${revision}`,
  });
  if (response.statusCode !== 200)
    throw new Error(`watch: ${response.statusCode} ${await response.body.text()}`);
  const consume = async () => {
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) watcher.events++;
      if (watcher.doneAt === undefined && watcher.events >= state.target) watcher.doneAt = performance.now();
    }
    watcher.ended = true;
  };
  consume().catch(() => {
    watcher.ended = true;
  });
  return watcher;
}

async function currentRevision(dispatcher: Dispatcher, origin: string): Promise<string> {
  const response = await dispatcher.request({ origin, method: 'GET', path: `${COLLECTION}?limit=1` });
  const list = JSON.parse(await response.body.text()) as { metadata: { resourceVersion: string } };
  return list.metadata.resourceVersion;
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return true;
}

const hub = await startHubProcess({ args: hubArgs(), env: hubEnv() });
try {
  const credentials = credentialsOf(hub.kubeconfig);
  const origin = credentials.origin;
  const durationMs = roundMs(5);
  const writer = pool(credentials, CONNECTIONS);
  // Warm up the hub and the writer's connections: by count, since V8 needs a
  // few thousand requests to optimise the hub's code (capped for slow machines).
  await closedLoop({
    dispatcher: writer,
    origin,
    inFlight: IN_FLIGHT,
    maxRequests: 4000,
    durationMs: 20_000,
    request: (i) => ({
      method: 'POST',
      path: COLLECTION,
      body: JSON.stringify(benchConfigMap(`warm-${i}`, i)),
    }),
    expectStatus: 201,
  });
  startProfiling(hub);
  console.log(
    `watch-events: N watchers on ${COLLECTION} while a writer creates ConfigMaps (${IN_FLIGHT} in flight, ${CONNECTIONS} connections)`,
  );
  console.log(
    `(${durationMs / 1000} s of writing per phase; events/s counts until the last watcher has the last event)`,
  );
  console.log(`${machineLoad()}\n`);
  const rows: string[][] = [];
  const results: Record<string, unknown>[] = [];
  let baseline = Number.NaN;
  for (const count of WATCHERS) {
    const watchPool = count > 0 ? pool(credentials, count) : undefined;
    const revision = await currentRevision(writer, origin);
    const state = { target: Number.POSITIVE_INFINITY };
    const watchers = watchPool
      ? await Promise.all(
          Array.from({ length: count }, () => openWatcher(watchPool, origin, revision, state)),
        )
      : [];
    const cpu = cpuMeter(hub.process.pid!);
    const started = performance.now();
    const load = await closedLoop({
      dispatcher: writer,
      origin,
      inFlight: IN_FLIGHT,
      durationMs,
      request: (i) => ({
        method: 'POST',
        path: COLLECTION,
        body: JSON.stringify(benchConfigMap(`w${count}-${i}`, i)),
      }),
      expectStatus: 201,
    });
    const writeMs = performance.now() - started;
    state.target = load.ok;
    for (const watcher of watchers)
      if (watcher.doneAt === undefined && watcher.events >= load.ok) watcher.doneAt = performance.now();
    const drained = await waitFor(
      () => watchers.every((w) => w.doneAt !== undefined || w.ended),
      DRAIN_TIMEOUT_MS,
    );
    const hubCpu = cpu.stop();
    const complete = watchers.filter((w) => w.doneAt !== undefined);
    const lastAt = Math.max(started + writeMs, ...complete.map((w) => w.doneAt!));
    const deliveredMs = lastAt - started;
    const delivered = watchers.reduce((sum, w) => sum + Math.min(w.events, load.ok), 0);
    const createRate = (load.ok / writeMs) * 1000;
    if (count === 0) baseline = createRate;
    const eventRate = count > 0 ? (delivered / deliveredMs) * 1000 : Number.NaN;
    const latency = summarize(load.latencies);
    const incomplete = count - complete.length;
    rows.push([
      String(count),
      fmt(createRate),
      fmt(createRate / baseline, 2),
      fmt(latency.p99),
      count > 0 ? fmt(eventRate) : '-',
      count > 0 ? fmt(lastAt - (started + writeMs)) : '-',
      fmt(hubCpu / (deliveredMs / 1000 || 1), 2),
      fmt((hubCpu / load.ok) * 1e6),
      count > 0 ? `${incomplete}${drained ? '' : ' (timeout)'}` : '-',
    ]);
    results.push({ watchers: count, createRate, eventRate, incomplete, lagMs: lastAt - (started + writeMs) });
    if (load.firstFailure)
      console.log(`${count} watchers: ${load.failed} failed creates, first: ${load.firstFailure}`);
    await watchPool?.destroy();
  }
  await writer.close();
  console.log(
    table(
      [
        'watchers',
        'creates/s',
        'vs 0 watchers',
        'create p99 ms',
        'events delivered/s',
        'drain after writes ms',
        'hub CPU (cores)',
        'hub CPU µs/create',
        'incomplete watchers',
      ],
      rows,
    ),
  );
  console.log(machineLoad());
  const allComplete = results.every((r) => !r.incomplete);
  console.log(`\nbaseline: creates/s with no watcher, same hub, same run`);
  console.log(
    goalLine('every watcher receives every event (no goal on rate; compare with the baseline)', allComplete),
  );
  report('watch-events', { goalMet: allComplete, baseline, results });
} finally {
  await hub.stop();
  await removeDir(hub.dataDir);
}
