#!/usr/bin/env node
// Runs every *.test.ts under src/ and test/ with node's own test runner, several
// files at once (most tests wait on processes and I/O, not on the two cores).
// Node 20 finds no .ts file by itself, so the files are passed explicitly.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
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

// The runner starts files in the order given, a few at a time: the longest start first, so
// that none of them begins near the end and alone makes the tail of the run (measured in a
// clean-clone run, 70-600 s each on a loaded machine); the quick unit tests come last and fill
// the gaps. A file missing from this list only starts later.
const LONGEST_FIRST = [
  'test/e2e/podman-runtime.test.ts',
  'test/e2e/podman-runtime-content.test.ts',
  'test/e2e/telemetry-placement.test.ts',
  'test/e2e/telemetry.test.ts',
  'test/e2e/replicas-crash.test.ts',
  'test/e2e/replicas.test.ts',
  'test/e2e/agent-clock.test.ts',
  'test/e2e/telemetry-bridge.test.ts',
  'test/e2e/store-migrate.test.ts',
  'test/e2e/rbac.test.ts',
  'test/e2e/rbac-escalation.test.ts',
  'test/e2e/podman-rollout.test.ts',
  'test/e2e/cross-tenant-matrix.test.ts',
  'test/e2e/replicas-postgres-restart.test.ts',
  'test/e2e/slow-clients.test.ts',
  'test/e2e/opcua-e2e.test.ts',
  'test/e2e/demo.test.ts',
];
const rank = (file) => {
  const listed = LONGEST_FIRST.indexOf(file);
  if (listed >= 0) return listed;
  return file.startsWith('test/') ? LONGEST_FIRST.length : LONGEST_FIRST.length + 1;
};

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
const env = { ...process.env, OUTPOST_TEST_BIN: join(buildDir, 'cli', 'main.js') };

const concurrency = process.env.TEST_CONCURRENCY ?? '4';
const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-timeout=600000', ...files],
  { stdio: 'inherit', env },
);
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
