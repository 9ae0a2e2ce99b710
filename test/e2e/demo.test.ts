/**
 * `npm start`, as a person runs it in a terminal: every run shows live
 * values — the first, the next after Ctrl-C, and the next after the last
 * one was killed with SIGKILL (a crash, a closed terminal) — and Ctrl-C at
 * any moment, start-up included, leaves no process anywhere on the machine.
 *
 * Each run is `npm start` in its own process group, as a shell starts it;
 * Ctrl-C is SIGINT to that group, as the terminal sends it. A process of
 * the demo is any whose command line or working directory names the demo's
 * folder, or whose environment carries it (npm, the demo, its children and
 * the workloads the agent runs there).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  type DemoRun,
  demoProcesses,
  kubectl,
  OUTPOST_BIN,
  ROOT,
  run,
  signalDemo,
  startDemoRun,
  waitFor,
} from '../support/index.ts';

/** Live values of the demo's connector, as the demo prints them. */
const VALUES = /demo-gateway {2}default\/line-1 {2}.*pressure=\d.*temperature=\d/;
/** A stack trace line (`    at fn (file:1:2)`), in the output or in the demo's log. */
const STACK_LINE = /^\s+at .+:\d+:\d+\)?$/m;
/** How long a run may take to show values on a loaded machine (the whole start, seconds on a quiet one). */
const VALUES_MS = 150_000;

/** A running `npm start`, in its own process group as a shell starts it. */
function startDemo(dir: string): DemoRun {
  return startDemoRun('npm', ['start'], dir);
}

async function noProcessLeft(dir: string, what: string): Promise<void> {
  // The demo waits for its children; what may linger a moment is node's own helpers (esbuild's service).
  await waitFor(
    `no process of the demo left (${what})`,
    async () => (await demoProcesses(dir)).length === 0,
    15_000,
  ).catch(async (error: Error) => assert.fail(`${error.message}:\n${(await demoProcesses(dir)).join('\n')}`));
}

async function waitForValues(run: DemoRun, what: string): Promise<void> {
  await waitFor(`live values (${what})`, () => VALUES.test(run.output()), VALUES_MS).catch((error: Error) =>
    assert.fail(`${error.message}; the demo printed:\n${run.output()}`),
  );
}

/**
 * Ctrl-C, then the run's clean end: nothing left, no stack trace, and once the demo has begun
 * (its banner printed) its own orderly stop. (npm itself ends by the signal it forwarded, as a
 * shell expects of a program interrupted with Ctrl-C; before the banner, node dies of it too.)
 */
async function interrupt(run: DemoRun, dir: string, what: string): Promise<void> {
  const begun = /Outpost \S+ demo/.test(run.output());
  signalDemo(run, 'SIGINT');
  await run.exited;
  if (begun)
    assert.match(
      run.output(),
      /stopping\.\.\.\ndemo stopped\n/,
      `${what}: no orderly stop:\n${run.output()}`,
    );
  await noProcessLeft(dir, what);
  assert.doesNotMatch(run.output(), STACK_LINE, `${what}: a stack trace in the output`);
}

/**
 * What the demo applies is healthy, as kubectl shows it: the example workload and placement and
 * the connector's are Ready, and the example's workload prints its greeting (no missing file).
 */
async function everythingHealthy(dir: string): Promise<void> {
  const kubeconfig = join(dir, 'hub', 'admin.kubeconfig');
  const ready = (table: string, name: string) =>
    table.split('\n').some((line) => line.includes(` ${name} `) && /\sTrue\s/.test(line));
  let shown = '';
  await waitFor(
    'workloads and placements Ready',
    async () => {
      shown = (await kubectl({ kubeconfig }, ['get', 'workloads,placements', '-A'])).stdout;
      return [
        'workload.outpost.dev/hello',
        'placement.outpost.dev/hello-berlin',
        'workload.outpost.dev/line-1',
      ]
        .map((name) => ready(shown, name))
        .every(Boolean);
    },
    60_000,
  ).catch((error: Error) => assert.fail(`${error.message}:\n${shown}`));
  assert.doesNotMatch(shown, /\sFalse\s/, shown);
  const logs = await run(process.execPath, [
    ...[OUTPOST_BIN, 'logs', 'demo-gateway', 'hello', '--kubeconfig', kubeconfig],
  ]);
  assert.equal(logs.code, 0, logs.stderr);
  assert.match(logs.stdout, /^hello from demo-gateway$/m);
  assert.doesNotMatch(logs.stdout, /No such file/);
}

/** The printed dashboard URL serves the dashboard, and the demo's device through its proxy. */
async function dashboardShowsTheFleet(run: DemoRun): Promise<void> {
  const url = /dashboard: (http:\/\/127\.0\.0\.1:\d+\/ui\/)/.exec(run.output())?.[1];
  assert.ok(url, `the dashboard's URL is printed:\n${run.output()}`);
  const page = await fetch(url);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<div id="app">/);
  const devices = await fetch(new URL('/apis/outpost.dev/v1alpha1/devices', url));
  assert.equal(devices.status, 200);
  const names = ((await devices.json()) as { items: { metadata: { name: string } }[] }).items.map(
    (item) => item.metadata.name,
  );
  assert.ok(names.includes('demo-gateway'), names.join(', '));
}

describe('npm start', () => {
  const dirs: string[] = [];
  const runs: DemoRun[] = [];
  after(async () => {
    for (const run of runs) signalDemo(run, 'SIGKILL');
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });
  async function demoDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'outpost-demo-'));
    dirs.push(dir);
    return dir;
  }

  it('shows live values on every run in one folder: after Ctrl-C, and right after SIGKILL of the last run', async () => {
    const dir = await demoDir();

    const first = startDemo(dir);
    runs.push(first);
    await waitFor(
      'the hub line',
      () => /hub listening on https:\/\/127\.0\.0\.1:\d+/.test(first.output()),
      VALUES_MS,
    );
    assert.match(first.output(), /admin kubeconfig: \S+admin\.kubeconfig/);
    await waitForValues(first, 'first run');
    await dashboardShowsTheFleet(first);
    assert.ok((await demoProcesses(dir)).length > 2, 'the demo runs processes of its own');
    await everythingHealthy(dir);
    // The commands it suggests are the README's (with the demo's folder where the README has its default).
    const suggested = first
      .output()
      .split('\n')
      .filter((line) => /^ {2}(kubectl|node bin\/outpost\.js) /.test(line))
      .map((line) => line.trim().replaceAll(dir, '.outpost/demo'));
    assert.equal(suggested.length, 3, first.output());
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    for (const command of suggested) assert.ok(readme.includes(command), `the README lacks ${command}`);
    // A second npm start on the same folder is refused; the first one runs on undisturbed.
    const concurrent = startDemo(dir);
    runs.push(concurrent);
    await concurrent.exited;
    assert.match(concurrent.output(), /demo failed: another npm start \(pid \d+\) runs with /);
    const shown = first.output().length;
    await waitFor('more values from the first run', () => VALUES.test(first.output().slice(shown)), 30_000);
    await interrupt(first, dir, 'first run');
    assert.match(first.output(), /demo stopped/);

    // The second run on the first one's state; then killed as a crash would kill it.
    const second = startDemo(dir);
    runs.push(second);
    await waitForValues(second, 'second run');
    signalDemo(second, 'SIGKILL');
    await second.exited;

    // At once: whatever the killed run left is the third run's to find and stop.
    const third = startDemo(dir);
    runs.push(third);
    await waitForValues(third, 'third run, right after SIGKILL');
    await interrupt(third, dir, 'third run');
    const log = await readFile(join(dir, 'demo.log'), 'utf8');
    assert.doesNotMatch(log, STACK_LINE, 'a stack trace in demo.log');
  });

  it('leaves no process when Ctrl-C comes at any moment of the start-up', async () => {
    const dir = await demoDir();
    // In start-up order; the folder is new, so the later moments meet a first run's work
    // (keys made, the agent enrolling) and the earlier ones the leftovers of the run before.
    const moments: { what: string; reached: (output: string) => boolean }[] = [
      { what: 'while node loads', reached: () => true },
      { what: 'as the children start', reached: (out) => /Outpost \S+ demo/.test(out) },
      { what: 'as the hub listens', reached: (out) => /hub listening on/.test(out) },
      { what: 'as the agent starts', reached: (out) => /agent demo-gateway starting/.test(out) },
    ];
    for (const moment of moments) {
      const run = startDemo(dir);
      runs.push(run);
      await waitFor(moment.what, () => moment.reached(run.output()), VALUES_MS);
      await interrupt(run, dir, `Ctrl-C ${moment.what}`);
    }
    const log = await readFile(join(dir, 'demo.log'), 'utf8').catch(() => '');
    assert.doesNotMatch(log, STACK_LINE, 'a stack trace in demo.log');
  });
});
