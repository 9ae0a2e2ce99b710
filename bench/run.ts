/**
 * Runs the hub's benchmarks, each in its own process, one after the other:
 * all of them, or those named on the command line.
 *
 *   npm run bench                      every benchmark
 *   npm run bench -- store-writes      one (or several) by name
 *   npm run bench -- fleet-scale --devices 20000   options after the names go to the benchmarks
 *
 * Each prints its own table and goal line; this runner ends with a summary.
 * `BENCH_SECONDS` shortens or lengthens every measuring round.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BENCHMARKS = [
  'store-writes',
  'api-creates',
  'list-10k',
  'watch-events',
  'enrollment',
  'placement-fanout',
  'rollout-batches',
  'postgres-writes',
  'replicas-writes',
  'replicas-watch',
  'fleet-scale',
  'telemetry-forwarding',
  'opcua-telemetry',
  'agent-memory',
  'agent-latency',
  'device-policies',
  'object-upload',
  'demo-start',
] as const;

// Names first, then options (`--devices 20000`), which go to every selected benchmark.
const firstOption = process.argv.slice(2).findIndex((arg) => arg.startsWith('--'));
const requested = firstOption < 0 ? process.argv.slice(2) : process.argv.slice(2, 2 + firstOption);
const options = firstOption < 0 ? [] : process.argv.slice(2 + firstOption);
const unknown = requested.filter((name) => !(BENCHMARKS as readonly string[]).includes(name));
if (unknown.length > 0) {
  console.error(`unknown benchmark ${unknown.join(', ')}; known: ${BENCHMARKS.join(', ')}`);
  process.exit(2);
}
const selected = requested.length > 0 ? requested : [...BENCHMARKS];

/** Runs one benchmark script, echoing its output; resolves with its BENCH_RESULT lines and exit code. */
function runOne(name: string): Promise<{ code: number; results: Record<string, unknown>[] }> {
  const script = fileURLToPath(new URL(`./${name}.ts`, import.meta.url));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...options], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      output += text;
      // The machine-readable lines are for this runner, not for the reader.
      process.stdout.write(text.replace(/^BENCH_RESULT .*\n?/gm, ''));
    });
    child.on('exit', (code, signal) => {
      const results = [...output.matchAll(/^BENCH_RESULT (.*)$/gm)].map(
        (match) => JSON.parse(match[1]!) as Record<string, unknown>,
      );
      resolve({ code: code ?? (signal ? 1 : 0), results });
    });
  });
}

const summary: string[] = [];
let failed = false;
for (const name of selected) {
  console.log(`\n=== ${name} ===\n`);
  const started = performance.now();
  const { code, results } = await runOne(name);
  const seconds = ((performance.now() - started) / 1000).toFixed(0);
  if (code !== 0) failed = true;
  const goal = results[0]?.goalMet;
  summary.push(
    `${name.padEnd(14)} ${code !== 0 ? `FAILED (exit ${code})` : goal ? 'goal met' : 'goal MISSED'}  (${seconds} s)`,
  );
}
console.log(`\n=== summary ===\n${summary.join('\n')}`);
process.exit(failed ? 1 : 0);
