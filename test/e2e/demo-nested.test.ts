/**
 * `outpost demo --nested`, as a person runs it as root in a terminal: the
 * three levels come up in network namespaces and the level-2 device's values
 * are printed at the hub, with a `kubectl get devices` style table showing
 * each device's parent and level. A run killed with SIGKILL leaves its
 * namespaces (nothing could remove them), and the next run finds them by
 * their name and removes them with what runs inside; Ctrl-C then leaves no
 * namespace, veth or process. As anyone but root it says why and exits 2.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  canBuildLevels,
  type DemoRun,
  demoProcesses,
  OUTPOST_BIN,
  run,
  signalDemo,
  startDemoRun,
  waitFor,
} from '../support/index.ts';

/** Live values of the level-2 device's connector, as the demo prints them. */
const VALUES = /area-l2 {2}default\/line-1 {2}.*pressure=\d.*temperature=\d/;
/** The level-2 device's row: PHASE, PARENT site-l3, LEVEL 2, reachable through its parent. */
const AREA_ROW = /^area-l2\s+\S+\s+site-l3\s+2\s+Reachable$/m;
/** How long a run may take to show values on a loaded machine (three agents, two Squids, two Mosquittos). */
const VALUES_MS = 420_000;

function startDemo(dir: string): DemoRun {
  return startDemoRun(process.execPath, [OUTPOST_BIN, 'demo', '--nested'], dir);
}

/** The network namespaces and links of the machine whose name starts with a run's prefix. */
function namesOf(pid: number): string[] {
  const prefix = `opd${pid}-`;
  const namespaces = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  const links = execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' });
  return [...namespaces.split('\n'), ...links.split('\n').map((line) => line.split(': ')[1] ?? '')]
    .map((name) => name.split(/[ @]/)[0] ?? '')
    .filter((name) => name.startsWith(prefix));
}

async function waitForOutput(demo: DemoRun, pattern: RegExp, what: string): Promise<void> {
  await waitFor(what, () => pattern.test(demo.output()), VALUES_MS).catch((error: Error) =>
    assert.fail(`${error.message}; the demo printed:\n${demo.output()}`),
  );
}

describe('outpost demo --nested', { timeout: 1_200_000 }, () => {
  let dir: string;
  const runs: DemoRun[] = [];

  after(async () => {
    for (const demo of runs) {
      signalDemo(demo, 'SIGINT');
      await demo.exited;
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('says it needs root and exits 2 for anyone else', async () => {
    const result = await run('setpriv', [
      ...['--reuid=65534', '--regid=65534', '--clear-groups'],
      ...[process.execPath, OUTPOST_BIN, 'demo', '--nested'],
    ]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /run it as root/);
  });

  it('shows the values of level 2 at the hub; a killed run is cleaned up by the next; Ctrl-C leaves nothing', {
    skip: !canBuildLevels() && 'needs root and ip netns',
  }, async () => {
    dir = await mkdtemp(join(tmpdir(), 'outpost-demo-nested-'));
    const first = startDemo(dir);
    runs.push(first);
    await waitForOutput(first, VALUES, 'values of the first run');
    assert.match(first.output(), AREA_ROW, first.output());
    assert.match(first.output(), /^site-l3\s+Online\s+enterprise-l4\s+3\s/m, first.output());
    // Killed as a crash kills it: nothing of it runs to remove its namespaces.
    process.kill(first.child.pid!, 'SIGKILL');
    await first.exited;
    assert.ok(namesOf(first.child.pid!).length > 0, 'a killed run leaves its namespaces');

    const second = startDemo(dir);
    runs.push(second);
    await waitForOutput(second, VALUES, 'values of the second run');
    assert.match(second.output(), /removed what an earlier run left/, second.output());
    assert.deepEqual(namesOf(first.child.pid!), [], "the killed run's namespaces and veths are gone");
    assert.ok(namesOf(second.child.pid!).length >= 3, 'the second run has its own');

    signalDemo(second, 'SIGINT');
    assert.equal(await second.exited, 0, second.output());
    assert.match(second.output(), /stopping\.\.\.\n(?:.*\n)?demo stopped/, second.output());
    assert.deepEqual(namesOf(second.child.pid!), [], 'no namespace or veth left');
    await waitFor(
      'no process of the demo left',
      async () => (await demoProcesses(dir)).length === 0,
      15_000,
    ).catch(async (error: Error) =>
      assert.fail(`${error.message}:\n${(await demoProcesses(dir)).join('\n')}`),
    );
  });
});
