/**
 * Lists 10,000 ConfigMaps from a hub process: the whole collection in one
 * response (no limit) and page by page (`limit=500` with `continue`), one
 * request at a time over one keep-alive HTTPS connection; p50/p99 over the
 * repeated requests. Baseline: the bare `node:https` server answering the
 * same bytes (the hub's own response, captured), pre-rendered.
 *
 *   npm run bench -- list-10k              (BENCH_SECONDS=N per phase, default 10)
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Dispatcher } from 'undici';
import { removeDir, startHubProcess, tempDir } from '../test/support/index.ts';
import { populateConfigMaps } from './populate.ts';
import {
  type BareServer,
  cpuMeter,
  credentialsOf,
  fmt,
  goalLine,
  hubArgs,
  hubEnv,
  type LatencySummary,
  machineLoad,
  pool,
  report,
  roundMs,
  startBareServer,
  startProfiling,
  summarize,
  table,
} from './support/index.ts';

const OBJECTS = 10_000;
const PAGE = 500;
const GOAL_P99_MS = 300;
const ROUNDS = 2;
const COLLECTION = '/api/v1/namespaces/default/configmaps';

async function get(
  dispatcher: Dispatcher,
  origin: string,
  path: string,
): Promise<{ ms: number; body: Buffer }> {
  const sent = performance.now();
  const response = await dispatcher.request({ origin, method: 'GET', path });
  const body = Buffer.from(await response.body.arrayBuffer());
  const ms = performance.now() - sent;
  if (response.statusCode !== 200)
    throw new Error(`GET ${path}: ${response.statusCode} ${body.toString().slice(0, 300)}`);
  return { ms, body };
}

/** Repeats `once` until `durationMs` has passed (at least 3 times); returns the latencies. */
async function repeat(durationMs: number, once: () => Promise<number>): Promise<number[]> {
  const latencies: number[] = [];
  const deadline = performance.now() + durationMs;
  while (latencies.length < 3 || performance.now() < deadline) latencies.push(await once());
  return latencies;
}

/** Walks the collection page by page; returns each page's latency and the walk's. */
async function walk(
  dispatcher: Dispatcher,
  origin: string,
): Promise<{ pages: number[]; total: number; items: number }> {
  const pages: number[] = [];
  let items = 0;
  let token: string | undefined;
  const started = performance.now();
  do {
    const query = `limit=${PAGE}${token ? `&continue=${encodeURIComponent(token)}` : ''}`;
    const { ms, body } = await get(dispatcher, origin, `${COLLECTION}?${query}`);
    pages.push(ms);
    const list = JSON.parse(body.toString()) as { items: unknown[]; metadata: { continue?: string } };
    items += list.items.length;
    token = list.metadata.continue;
  } while (token);
  return { pages, total: performance.now() - started, items };
}

const dataDir = await tempDir('outpost-bench-list-');
const work = await tempDir('outpost-bench-list-bodies-');
let hub: Awaited<ReturnType<typeof startHubProcess>> | undefined;
let bare: BareServer | undefined;
try {
  const populating = performance.now();
  await populateConfigMaps(dataDir, OBJECTS);
  const populateSeconds = (performance.now() - populating) / 1000;
  hub = await startHubProcess({ dataDir, args: hubArgs(), env: hubEnv() });
  const credentials = credentialsOf(hub.kubeconfig);
  const hubClient = pool(credentials, 1);
  const durationMs = roundMs(10);

  // Capture the hub's answers for the baseline, and warm up.
  const full = await get(hubClient, credentials.origin, COLLECTION);
  const page = await get(hubClient, credentials.origin, `${COLLECTION}?limit=${PAGE}`);
  const fullItems = (JSON.parse(full.body.toString()) as { items: unknown[] }).items.length;
  if (fullItems !== OBJECTS + 0) throw new Error(`expected ${OBJECTS} items, got ${fullItems}`);
  writeFileSync(join(work, 'full.json'), full.body);
  writeFileSync(join(work, 'page.json'), page.body);
  bare = await startBareServer(join(dataDir, 'pki'), {
    routes: { '/full': join(work, 'full.json'), '/page': join(work, 'page.json') },
  });
  const bareClient = pool(credentials, 1);
  await get(bareClient, bare.origin, '/full');
  for (let i = 0; i < 3; i++) await walk(hubClient, credentials.origin);

  console.log(
    `list-10k: GET ${COLLECTION} with ${OBJECTS} ConfigMaps, one request at a time over one HTTPS connection`,
  );
  console.log(
    `(populated in-process through the hub's API semantics in ${fmt(populateSeconds, 1)} s; full body ${fmt(full.body.length / 1e6, 2)} MB,` +
      ` page of ${PAGE} ${fmt(page.body.length / 1e3, 0)} kB; baseline: bare node:https serving the captured bodies; ${durationMs / 1000} s per phase in ${ROUNDS} alternating rounds)`,
  );
  console.log(`${machineLoad()}\n`);

  startProfiling(hub);
  // Two rounds of each phase, alternating hub and baseline, to spread the machine's noise over both.
  const phaseMs = durationMs / ROUNDS;
  const hubFull: number[] = [];
  const bareFull: number[] = [];
  const hubPages: number[] = [];
  const hubWalks: number[] = [];
  const barePages: number[] = [];
  const cpu = { hubFull: 0, bareFull: 0, hubPages: 0, barePages: 0 };
  const metered = async (pid: number, phase: keyof typeof cpu, body: () => Promise<void>) => {
    const meter = cpuMeter(pid);
    await body();
    cpu[phase] += meter.stop();
  };
  for (let round = 0; round < ROUNDS; round++) {
    await metered(hub.process.pid!, 'hubFull', async () => {
      hubFull.push(
        ...(await repeat(phaseMs, async () => (await get(hubClient, credentials.origin, COLLECTION)).ms)),
      );
    });
    await metered(bare.process.pid!, 'bareFull', async () => {
      bareFull.push(
        ...(await repeat(phaseMs, async () => (await get(bareClient, bare!.origin, '/full')).ms)),
      );
    });
    await metered(hub.process.pid!, 'hubPages', async () => {
      const deadline = performance.now() + phaseMs;
      do {
        const result = await walk(hubClient, credentials.origin);
        if (result.items !== OBJECTS) throw new Error(`walk saw ${result.items} items`);
        hubPages.push(...result.pages);
        hubWalks.push(result.total);
      } while (performance.now() < deadline);
    });
    await metered(bare.process.pid!, 'barePages', async () => {
      barePages.push(
        ...(await repeat(phaseMs, async () => (await get(bareClient, bare!.origin, '/page')).ms)),
      );
    });
  }
  const hubFullCpu = cpu.hubFull / hubFull.length;
  const hubPageCpu = cpu.hubPages / hubPages.length;
  const pagesPerWalk = Math.ceil(OBJECTS / PAGE);

  const row = (name: string, summary: LatencySummary, cpuMs?: number) => [
    name,
    String(summary.count),
    fmt(summary.p50),
    fmt(summary.p90),
    fmt(summary.p99),
    fmt(summary.max),
    cpuMs === undefined ? '-' : fmt(cpuMs),
  ];
  const fullHub = summarize(hubFull);
  const fullBare = summarize(bareFull);
  const pageHub = summarize(hubPages);
  const pageBare = summarize(barePages);
  const walkHub = summarize(hubWalks);
  console.log(
    table(
      ['request', 'n', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'server CPU ms/req'],
      [
        row('hub: full list (no limit)', fullHub, hubFullCpu * 1000),
        row('bare: same body', fullBare, (cpu.bareFull / bareFull.length) * 1000),
        row(`hub: one page (limit=${PAGE})`, pageHub, hubPageCpu * 1000),
        row('bare: same page body', pageBare, (cpu.barePages / barePages.length) * 1000),
        row(`hub: whole walk (${pagesPerWalk} pages)`, walkHub, hubPageCpu * 1000 * pagesPerWalk),
      ],
    ),
  );
  console.log(
    `\nhub / bare at p50: full list ${fmt(fullHub.p50 / fullBare.p50, 2)}x the time, one page ${fmt(pageHub.p50 / pageBare.p50, 2)}x` +
      `\n(with n requests, p99 is the slowest request when n < 100)`,
  );
  console.log(machineLoad());
  const met = fullHub.p99 < GOAL_P99_MS && pageHub.p99 < GOAL_P99_MS;
  console.log(goalLine(`p99 < ${GOAL_P99_MS} ms for the full list and for each page`, met));
  report('list-10k', { goalMet: met, full: fullHub, fullBare, page: pageHub, pageBare, walk: walkHub });
  await hubClient.close();
  await bareClient.close();
} finally {
  await bare?.stop();
  await hub?.stop();
  await removeDir(dataDir);
  await removeDir(work);
}
