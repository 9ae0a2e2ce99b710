#!/usr/bin/env node
// Runs every *.test.ts under src/ and test/ with node's own test runner, several files at
// once (most tests wait on processes and I/O, not on the two cores), each file in a node
// process of its own whose output is printed whole when it ends. Node 20 finds no .ts file
// by itself, so the files are passed explicitly.
//
// The files that drive podman take turns: podman serialises its storage and pod operations
// behind locks, so two such files at once wait on each other and on the load they make
// (measured in clean-clone runs: a podman file took 4 to 13 times as long with three other
// podman files beside it as it took alone), and their timing bounds stop meaning anything.
// One podman file runs beside files that do not use podman.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function find(dir) {
  const found = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) found.push(...find(path));
    else if (entry.endsWith('.test.ts')) found.push(path);
  }
  return found;
}

// Files start longest first, so that none of them begins near the end and alone makes the
// tail of the run (durations measured in a clean-clone run; the runner prints them at the
// end); the quick unit tests come last and fill the gaps. A file missing here starts later.
// CPU seconds of long files, measured 2026-12-08 with at most four files at once at load 17-33
// (wall times then 1.3-4 times a clean run's): podman-runtime 265 and podman-runtime-content 361
// (podman burns CPU under load), rollout 109, agent-probes 59, cron-workloads 46, body-nesting 35,
// agent-clock 26; data-upload (67) and crash-durability (45) were cut short. docs/benchmarks.md,
// test-suite, has the rest.
const LONGEST_FIRST = [
  'test/e2e/nested-levels.test.ts',
  'test/e2e/podman-runtime.test.ts',
  'test/e2e/demo-nested.test.ts',
  'test/e2e/crash-durability.test.ts',
  'test/e2e/data-upload.test.ts',
  'test/e2e/rollout.test.ts',
  'test/e2e/dashboard-browser.test.ts',
  'test/e2e/cron-workloads.test.ts',
  'test/e2e/agent-clock.test.ts',
  'test/e2e/replicas-crash.test.ts',
  'test/e2e/podman-workload-retry.test.ts',
  'test/e2e/telemetry-placement.test.ts',
  'test/e2e/telemetry.test.ts',
  'test/e2e/nested-telemetry.test.ts',
  'test/e2e/telemetry-mqtts.test.ts',
  'test/e2e/rbac.test.ts',
  'test/e2e/rbac-escalation.test.ts',
  'test/e2e/replicas-postgres-restart.test.ts',
  'test/e2e/agent-probes.test.ts',
  'test/e2e/podman-runtime-content.test.ts',
  'test/e2e/demo.test.ts',
  'test/e2e/opcua-e2e.test.ts',
  'test/e2e/dashboard-opcua-browser.test.ts',
  'test/e2e/resource-guard.test.ts',
  'test/e2e/cross-tenant-matrix.test.ts',
  'test/e2e/replicas.test.ts',
  'test/e2e/agent-shared-host.test.ts',
  'test/e2e/podman-rollout.test.ts',
  'test/e2e/podman-prefetch.test.ts',
  'test/e2e/telemetry-bridge.test.ts',
  'test/e2e/store-migrate.test.ts',
  'test/e2e/slow-clients.test.ts',
  'test/e2e/podman-device-profiles.test.ts',
  'test/api/body-nesting.test.ts',
  'test/e2e/prometheus-metrics.test.ts',
  'test/e2e/rollout-windows.test.ts',
];
const rank = (file) => {
  const listed = LONGEST_FIRST.indexOf(file);
  if (listed >= 0) return listed;
  return file.startsWith('test/') ? LONGEST_FIRST.length : LONGEST_FIRST.length + 1;
};
const usesPodman = (file) => /podman/i.test(readFileSync(file, 'utf8'));

const filters = process.argv.slice(2);
const files = ['src', 'test']
  .flatMap((dir) => find(dir))
  .filter((file) => filters.length === 0 || filters.some((filter) => file.includes(filter)))
  .sort()
  .sort((a, b) => rank(a) - rank(b));
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
// The processes tests start (hubs, agents, CLI calls) run compiled JavaScript: through tsx
// every start costs seconds of loader hooks. Compiled fresh on every run, so never stale.
const buildDir = join(process.cwd(), '.test-build');
const build = spawnSync(
  process.execPath,
  [
    'node_modules/typescript/bin/tsc',
    '-p',
    'tsconfig.build.json',
    '--outDir',
    buildDir,
    '--incremental',
    '--tsBuildInfoFile',
    join(buildDir, '.tsbuildinfo'),
  ],
  { stdio: 'inherit' },
);
if (build.status !== 0)
  console.error('run-tests: the TypeScript build reported errors (above); testing what it emitted');

const tty = process.stdout.isTTY;
const env = {
  ...process.env,
  OUTPOST_TEST_BIN: join(buildDir, 'cli', 'main.js'),
  ...(tty ? { FORCE_COLOR: '1' } : {}),
};
// Six files at once: the long files mostly wait (heartbeat periods, schedules, restarts, processes
// starting), their processes using a fraction of a core. CPU time (this runner's figures, each file
// run alone on the busy shared machine) against the wall time of the last clean-clone run:
// agent-clock 26 s of 153 s, cron-workloads 46 s of 144 s; four at once left most of two cores idle.
const concurrency = Number(process.env.TEST_CONCURRENCY ?? '6');
const totals = { tests: 0, suites: 0, pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 };
const durations = [];
const failedFiles = [];
const started = Date.now();

// The CPU time (user + sys) of each file's process tree, beside its wall time, tells the files
// that wait (on intervals, timeouts, processes starting) from those that compute. GNU time
// reports what the test process and the processes it waited for used (setup-system.sh installs it).
const TIME = '/usr/bin/time';
const cpuDir = existsSync(TIME) ? mkdtempSync(join(tmpdir(), 'outpost-test-cpu-')) : undefined;
let cpuSeconds = 0;

function runFile(file) {
  return new Promise((resolve) => {
    const begin = Date.now();
    const node = [
      process.execPath,
      '--import',
      'tsx',
      '--test',
      `--test-reporter=${tty ? 'spec' : 'tap'}`,
      '--test-timeout=600000',
      file,
    ];
    const cpuFile = cpuDir && join(cpuDir, file.replaceAll('/', '_'));
    const [command, ...args] = cpuFile ? [TIME, '-f', '%U %S', '-o', cpuFile, ...node] : node;
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const output = [];
    child.stdout.on('data', (chunk) => output.push(chunk));
    child.stderr.on('data', (chunk) => output.push(chunk));
    child.on('close', (code, signal) => {
      const seconds = (Date.now() - begin) / 1000;
      const cpu = cpuFile ? cpuOf(cpuFile) : undefined;
      if (cpu !== undefined) cpuSeconds += cpu;
      const text = Buffer.concat(output).toString();
      for (const [, name, count] of text.matchAll(
        /^(?:#|ℹ) (tests|suites|pass|fail|cancelled|skipped|todo) (\d+)$/gm,
      ))
        totals[name] += Number(count);
      const cpuNote = cpu === undefined ? '' : `, CPU ${cpu.toFixed(1)} s`;
      process.stdout.write(`# file ${file} (${seconds.toFixed(1)} s${cpuNote})\n${text}`);
      durations.push([seconds, file, cpu]);
      if (code !== 0) failedFiles.push(`${file} (${signal ?? `exit ${code}`})`);
      resolve();
    });
  });
}

/** User + sys seconds from GNU time's output file (its last line; earlier ones may say why it ended). */
function cpuOf(path) {
  try {
    const last = readFileSync(path, 'utf8').trim().split('\n').at(-1) ?? '';
    const [user, sys] = last.split(' ').map(Number);
    return Number.isFinite(user) && Number.isFinite(sys) ? user + sys : undefined;
  } catch {
    return undefined;
  }
}

const pending = [...files];
const podmanFiles = new Set(files.filter(usesPodman));
let running = 0;
let podmanRunning = false;
await new Promise((done) => {
  const next = () => {
    if (pending.length === 0 && running === 0) return done();
    while (running < concurrency) {
      const index = pending.findIndex((file) => !(podmanRunning && podmanFiles.has(file)));
      if (index < 0) return;
      const [file] = pending.splice(index, 1);
      const podman = podmanFiles.has(file);
      running += 1;
      if (podman) podmanRunning = true;
      void runFile(file).then(() => {
        running -= 1;
        if (podman) podmanRunning = false;
        next();
      });
    }
  };
  next();
});

if (cpuDir) rmSync(cpuDir, { recursive: true, force: true });
console.log("# the slowest files (wall time, and CPU time of the file's processes):");
for (const [seconds, file, cpu] of durations.sort((a, b) => b[0] - a[0]).slice(0, 25))
  console.log(
    `#   ${seconds.toFixed(1).padStart(6)} s  ${cpu === undefined ? '' : `CPU ${cpu.toFixed(1).padStart(6)} s  `}${file}`,
  );
console.log(`# files ${files.length}`);
for (const [name, count] of Object.entries(totals)) console.log(`# ${name} ${count}`);
console.log(`# duration_ms ${Date.now() - started}`);
if (cpuDir) console.log(`# cpu_ms ${Math.round(cpuSeconds * 1000)}`);
if (failedFiles.length > 0) console.log(`# failed files:\n${failedFiles.map((f) => `#   ${f}`).join('\n')}`);
process.exit(failedFiles.length > 0 ? 1 : 0);
