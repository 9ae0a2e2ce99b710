/**
 * The first minute of a newcomer: how long `npm start` takes to print its
 * first live value, and how long `outpost --help` and a mistyped command
 * take to answer.
 *
 * Demo: `npm start` (its own process group, a temp `OUTPOST_DEMO_DIR`) from
 * spawn to the first value line, once on a new folder (the first run: keys
 * made, the agent enrolling) and then `DEMO_RUNS` (5) times on the same
 * folder, each stopped with Ctrl-C (SIGINT to the group); the median of
 * those is the figure. Where the time goes is read from the same output:
 * when the demo's banner, the hub's line and the simulator's line came; and
 * `outpost plc-sim` started alone in the same run is the baseline (the
 * simulator is the slowest part, and what the first value waits for).
 *
 * Help: the median of 5 wall times (and the least CPU time) of `outpost
 * --help` and `outpost hbu`, run from the sources as a checkout does
 * (`node bin/outpost.js`, through tsx) and compiled (`npm run build`); the
 * baselines in the same run are a bare `node -e 0` and node with tsx's
 * loader and nothing else.
 *
 *   npm run bench -- demo-start
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, run } from '../test/support/index.ts';
import { buildCli } from './agent-support.ts';
import { fmt, goalLine, machineLoad, median, report, table } from './support/index.ts';

const DEMO_RUNS = Number(process.env.DEMO_RUNS ?? 5);
const HELP_RUNS = 5;
const DEMO_GOAL_S = 5;
const HELP_GOAL_S = 0.5;

/** When each milestone of one run was printed, in seconds after spawn. */
interface DemoTimes {
  banner: number;
  hub: number;
  plc: number;
  value: number;
}

const MILESTONES: Record<keyof DemoTimes, RegExp> = {
  banner: /Outpost \S+ demo/,
  hub: /hub listening on/,
  plc: /PLC simulator on/,
  value: /demo-gateway {2}default\/line-1 {2}.*temperature=\d/,
};

/** One `npm start` from spawn to its first value, then Ctrl-C and its end. */
async function demoRun(dir: string): Promise<DemoTimes> {
  const started = performance.now();
  const child: ChildProcess = spawn('npm', ['start'], {
    cwd: ROOT,
    env: { ...process.env, OUTPOST_DEMO_DIR: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const times: Partial<DemoTimes> = {};
  let out = '';
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no value within 180 s:\n${out}`)), 180_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const now = (performance.now() - started) / 1000;
      for (const [name, pattern] of Object.entries(MILESTONES) as [keyof DemoTimes, RegExp][])
        if (times[name] === undefined && pattern.test(out)) times[name] = now;
      if (times.value !== undefined) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
  });
  try {
    await done;
  } finally {
    process.kill(-child.pid!, 'SIGINT');
    await exited;
  }
  return times as DemoTimes;
}

/**
 * Seconds from spawn to `plc-sim listening` of `outpost plc-sim` alone (its
 * keys made beforehand, as the demo keeps them): the demo's critical path.
 */
async function plcSimAlone(dir: string): Promise<number> {
  const start = async () => {
    const started = performance.now();
    const child = spawn(
      process.execPath,
      [join(ROOT, 'bin', 'outpost.js'), 'plc-sim', '--port', '0', '--pki-dir', join(dir, 'plc-pki')],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    let out = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('plc-sim listening')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`plc-sim exited (${code})`)));
    });
    const seconds = (performance.now() - started) / 1000;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    return seconds;
  };
  await start(); // makes the keys
  return median([await start(), await start(), await start()]);
}

/** Wall seconds (median of `HELP_RUNS`) and CPU seconds (least) of `command` in bash. */
async function timed(command: string): Promise<{ wall: number; cpu: number }> {
  const walls: number[] = [];
  let cpu = Number.POSITIVE_INFINITY;
  for (let i = 0; i < HELP_RUNS; i++) {
    const started = performance.now();
    const { stdout } = await run('bash', ['-c', `${command} >/dev/null 2>&1; times`]);
    walls.push((performance.now() - started) / 1000);
    const [user = 0, system = 0] = [...(stdout.trim().split('\n')[1] ?? '').matchAll(/(\d+)m([\d.]+)s/g)].map(
      ([, minutes, seconds]) => Number(minutes) * 60 + Number(seconds),
    );
    cpu = Math.min(cpu, user + system);
  }
  return { wall: median(walls), cpu };
}

console.log(machineLoad());

// Help first: quick, and on a machine the demo has not warmed up.
const node = JSON.stringify(process.execPath);
const sources = `${node} ${JSON.stringify(join(ROOT, 'bin', 'outpost.js'))}`;
const compiled = `${node} ${JSON.stringify(buildCli())}`;
const helpCases: [string, string][] = [
  ['node -e 0 (baseline)', `${node} -e 0`],
  ['node --import tsx -e 0 (baseline)', `cd ${JSON.stringify(ROOT)} && ${node} --import tsx -e 0`],
  ['outpost --help (sources, tsx)', `${sources} --help`],
  ['outpost hbu (sources, tsx)', `${sources} hbu`],
  ['outpost --help (compiled)', `${compiled} --help`],
  ['outpost hbu (compiled)', `${compiled} hbu`],
];
const help = new Map<string, { wall: number; cpu: number }>();
for (const [label, command] of helpCases) help.set(label, await timed(command));
console.log(
  `\n${table(
    ['command', 'wall s (median of 5)', 'CPU s (least)'],
    [...help].map(([label, { wall, cpu }]) => [label, fmt(wall), fmt(cpu)]),
  )}`,
);

const dir = await mkdtemp(join(tmpdir(), 'outpost-bench-demo-'));
const rows: string[][] = [];
const later: DemoTimes[] = [];
try {
  const row = (label: string, t: DemoTimes) =>
    rows.push([label, fmt(t.banner), fmt(t.hub), fmt(t.plc), fmt(t.value)]);
  row('first run (new folder)', await demoRun(dir));
  for (let i = 1; i <= DEMO_RUNS; i++) {
    const times = await demoRun(dir);
    later.push(times);
    row(`run ${i + 1}`, times);
  }
} catch (error) {
  await rm(dir, { recursive: true, force: true });
  throw error;
}
const plcAlone = await plcSimAlone(dir).finally(() => rm(dir, { recursive: true, force: true }));
const med = (key: keyof DemoTimes) => median(later.map((t) => t[key]));
rows.push([
  `median of runs 2-${DEMO_RUNS + 1}`,
  fmt(med('banner')),
  fmt(med('hub')),
  fmt(med('plc')),
  fmt(med('value')),
]);
rows.push(['`outpost plc-sim` alone (median of 3)', '', '', fmt(plcAlone), '']);
console.log(
  `\n${table(['npm start, seconds after spawn', 'banner', 'hub listening', 'PLC simulator up', 'first value'], rows)}`,
);

const firstValue = med('value');
const helpWall = Math.max(
  help.get('outpost --help (sources, tsx)')!.wall,
  help.get('outpost hbu (sources, tsx)')!.wall,
);
const demoMet = firstValue <= DEMO_GOAL_S;
const helpMet = helpWall <= HELP_GOAL_S;
console.log(`\n${machineLoad()}`);
console.log(
  goalLine(`npm start shows a value within ${DEMO_GOAL_S} s (median ${fmt(firstValue)} s)`, demoMet),
);
console.log(
  goalLine(
    `help and usage errors answer within ${HELP_GOAL_S} s from the sources (${fmt(helpWall)} s)`,
    helpMet,
  ),
);
report('demo-start', {
  goalMet: demoMet && helpMet,
  firstValueSeconds: firstValue,
  plcSimAloneSeconds: plcAlone,
  helpSeconds: Object.fromEntries([...help].map(([label, value]) => [label, value])),
});
