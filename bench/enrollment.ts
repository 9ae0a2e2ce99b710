/**
 * Device enrollments per second against a hub process (SQLite synchronous
 * FULL, auto-approving token with unlimited uses): each enrollment checks and
 * counts the token, verifies the CSR, creates the Device, writes its status
 * and signs a certificate. Keys and CSRs are made before the clock starts
 * (key generation is the device's work, not the hub's).
 *
 * Two ways of arriving: over keep-alive connections (the hub's own work), and
 * one new TLS connection per enrollment (as devices really come, each paying
 * a full handshake with client-certificate request: no session resumption, a
 * new device has no session to resume). Baseline in the same run: TLS
 * handshakes per second of the hub and of the bare `node:https` server with
 * the same certificates, so the handshake's share is visible.
 *
 *   npm run bench -- enrollment          (BENCH_SECONDS=N per round, default 5)
 *
 * Judge it by the hub's CPU per enrollment when the machine is busy: the rate
 * is what the hub's share of the CPU allows. The last lines estimate the rate
 * of an idle machine from that cost (one core for the hub's single thread).
 */

import { join } from 'node:path';
import { connect } from 'node:tls';
import { Agent } from 'undici';
import { createCsr, generateKeyPem } from '../src/agent/enrollment/index.ts';
import { removeDir, startHubProcess } from '../test/support/index.ts';
import { createToken } from './fleet/enroll.ts';
import {
  type BareServer,
  cpuMeter,
  credentialsOf,
  fmt,
  goalLine,
  hubArgs,
  hubEnv,
  machineLoad,
  median,
  ownCpuSeconds,
  report,
  roundMs,
  startBareServer,
  startProfiling,
  summarize,
  table,
} from './support/index.ts';

const IN_FLIGHT = 32;
const CONNECTIONS = 16;
const HANDSHAKE_CONCURRENCY = 16;
const ROUNDS = 2;
const GOAL_RATE = 150;
const FACTS = {
  hostname: 'bench',
  os: 'linux',
  architecture: 'amd64',
  cpus: 2,
  memoryBytes: 4 * 1024 ** 3,
  machineId: '0123456789abcdef0123456789abcdef',
};

interface Round {
  readonly ok: number;
  readonly failed: number;
  readonly elapsedMs: number;
  readonly latencies: number[];
  readonly serverCpu: number;
  readonly firstFailure?: string;
}

/** Pre-made enrollment bodies: a key and a CSR each, for unique device names. */
async function makeBodies(token: string, count: number): Promise<string[]> {
  const bodies: string[] = [];
  for (let i = 0; i < count; i++) {
    const name = `bench-${i}`;
    const csr = await createCsr(await generateKeyPem(), name);
    bodies.push(JSON.stringify({ token, name, csr, facts: FACTS }));
  }
  return bodies;
}

/** Sends enrollments in a closed loop; `fresh` opens a new TLS connection for each. */
async function enrollments(
  origin: string,
  ca: string,
  bodies: string[],
  pid: number,
  durationMs: number,
  fresh: boolean,
): Promise<Round> {
  // Fresh: no TLS session cache either, so that every connection is a full handshake, as a new device's is.
  const dispatcher = new Agent({
    connect: { ca, ...(fresh ? { maxCachedSessions: 0 } : {}) },
    connections: CONNECTIONS,
    pipelining: 1,
  });
  const latencies: number[] = [];
  let failed = 0;
  let firstFailure: string | undefined;
  const cpu = cpuMeter(pid);
  const started = performance.now();
  const deadline = started + durationMs;
  const worker = async () => {
    while (bodies.length > 0 && performance.now() < deadline) {
      const body = bodies.pop()!;
      const sent = performance.now();
      const response = await dispatcher.request({
        origin,
        method: 'POST',
        path: '/enroll',
        body,
        headers: { 'content-type': 'application/json' },
        reset: fresh, // close the connection after the answer: the next one handshakes anew
      });
      const text = await response.body.text();
      if (response.statusCode === 201) latencies.push(performance.now() - sent);
      else {
        failed++;
        firstFailure ??= `${response.statusCode} ${text.slice(0, 300)}`;
      }
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const elapsedMs = performance.now() - started;
  const serverCpu = cpu.stop();
  await dispatcher.close();
  return { ok: latencies.length, failed, elapsedMs, latencies, serverCpu, firstFailure };
}

/** Full TLS handshakes (client certificate presented), closed at once, `HANDSHAKE_CONCURRENCY` at a time. */
async function handshakes(
  origin: string,
  tls: { ca: string; cert: string; key: string },
  pid: number,
  durationMs: number,
): Promise<Round> {
  const { hostname, port } = new URL(origin);
  const latencies: number[] = [];
  let failed = 0;
  let firstFailure: string | undefined;
  const cpu = cpuMeter(pid);
  const started = performance.now();
  const deadline = started + durationMs;
  const one = () =>
    new Promise<void>((resolve) => {
      const sent = performance.now();
      const socket = connect({ host: hostname, port: Number(port), ...tls, servername: 'localhost' }, () => {
        latencies.push(performance.now() - sent);
        socket.destroy();
        resolve();
      });
      socket.once('error', (error) => {
        failed++;
        firstFailure ??= error.message;
        resolve();
      });
    });
  const worker = async () => {
    while (performance.now() < deadline) await one();
  };
  await Promise.all(Array.from({ length: HANDSHAKE_CONCURRENCY }, worker));
  return {
    ok: latencies.length,
    failed,
    elapsedMs: performance.now() - started,
    latencies,
    serverCpu: cpu.stop(),
    firstFailure,
  };
}

function row(name: string, rounds: Round[]) {
  const rates = rounds.map((r) => (r.ok / r.elapsedMs) * 1000);
  const latency = summarize(rounds.flatMap((r) => r.latencies));
  const seconds = rounds.reduce((sum, r) => sum + r.elapsedMs, 0) / 1000;
  const serverCpu = rounds.reduce((sum, r) => sum + r.serverCpu, 0);
  const ok = rounds.reduce((sum, r) => sum + r.ok, 0);
  const failed = rounds.reduce((sum, r) => sum + r.failed, 0);
  const first = rounds.find((r) => r.firstFailure)?.firstFailure;
  if (first) console.log(`${name}: ${failed} failed, first: ${first}`);
  return {
    rate: median(rates),
    perCore: ok / serverCpu,
    latency,
    cells: [
      name,
      fmt(median(rates)),
      fmt(latency.p50),
      fmt(latency.p99),
      fmt(serverCpu / seconds, 2),
      fmt((serverCpu / ok) * 1e3, 2),
      fmt(ok / serverCpu),
      String(failed),
    ],
  };
}

const hub = await startHubProcess({ args: hubArgs(), env: hubEnv() });
let bare: BareServer | undefined;
try {
  const credentials = credentialsOf(hub.kubeconfig);
  bare = await startBareServer(join(hub.dataDir, 'pki'));
  const durationMs = roundMs(5);
  const token = await createToken(credentials);

  // Enough bodies for the rounds at up to twice the goal; a round that runs out stops early (and says so by its count).
  const needed = Math.ceil((durationMs / 1000) * GOAL_RATE * 2 * ROUNDS * 2 + 150);
  const makeStarted = performance.now();
  const clientCpu = ownCpuSeconds();
  const bodies = await makeBodies(token, needed);
  console.log(
    `enrollment: POST /enroll (auto approval, one token of a million uses), ${IN_FLIGHT} in flight; ${bodies.length} keys+CSRs made beforehand` +
      ` in ${fmt((performance.now() - makeStarted) / 1000, 1)} s (${fmt(((ownCpuSeconds() - clientCpu) / bodies.length) * 1e3, 2)} ms CPU each, not counted)`,
  );
  console.log(
    `keep-alive: ${CONNECTIONS} connections reused; fresh: a new TLS connection per enrollment;` +
      `\nbaseline: full TLS handshakes (client certificate presented) to the hub and to a bare node:https process with the same certificates,` +
      ` ${HANDSHAKE_CONCURRENCY} at a time; ${ROUNDS} alternating rounds of ${durationMs / 1000} s; rates are medians`,
  );
  console.log(`${machineLoad()}\n`);
  // Warm-up, not counted: the hub's code paths and the JIT.
  await enrollments(credentials.origin, credentials.ca, bodies.splice(0, 150), hub.process.pid!, 5000, false);
  const tls = { ca: credentials.ca, cert: credentials.cert, key: credentials.key };
  await handshakes(credentials.origin, tls, hub.process.pid!, 500);
  await handshakes(bare.origin, tls, bare.process.pid!, 500);
  startProfiling(hub);

  const keepAlive: Round[] = [];
  const fresh: Round[] = [];
  const hubTls: Round[] = [];
  const bareTls: Round[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    bareTls.push(await handshakes(bare.origin, tls, bare.process.pid!, durationMs));
    hubTls.push(await handshakes(credentials.origin, tls, hub.process.pid!, durationMs));
    keepAlive.push(
      await enrollments(credentials.origin, credentials.ca, bodies, hub.process.pid!, durationMs, false),
    );
    fresh.push(
      await enrollments(credentials.origin, credentials.ca, bodies, hub.process.pid!, durationMs, true),
    );
  }
  const keepAliveRow = row('enroll, keep-alive', keepAlive);
  const freshRow = row('enroll, new connection each', fresh);
  const hubTlsRow = row('TLS handshake, hub', hubTls);
  const bareTlsRow = row('TLS handshake, bare https', bareTls);
  console.log(
    table(
      [
        'what',
        'per second',
        'p50 ms',
        'p99 ms',
        'server CPU (cores)',
        'server CPU ms each',
        'per server core-second',
        'failed',
      ],
      [keepAliveRow.cells, freshRow.cells, hubTlsRow.cells, bareTlsRow.cells],
    ),
  );
  console.log(
    `\nhub / bare handshakes: ${fmt(hubTlsRow.rate / bareTlsRow.rate, 2)}; an enrollment costs the hub` +
      ` ${fmt(1000 / keepAliveRow.perCore, 2)} ms of CPU on a reused connection, ${fmt(1000 / freshRow.perCore, 2)} ms with its own handshake` +
      ` (a handshake alone: ${fmt(1000 / hubTlsRow.perCore, 2)} ms)`,
  );
  // The hub serves from one thread: a whole core bounds its rate at 1000 / (CPU ms per enrollment).
  const keepAliveMs = 1000 / keepAliveRow.perCore;
  const freshMs = 1000 / freshRow.perCore;
  console.log(
    `estimate for an idle machine (one core for the hub's thread, the other for the clients): about ${fmt(1000 / freshMs)} enrollments/s` +
      ` on new connections, ${fmt(1000 / keepAliveMs)} on reused ones, from the CPU cost alone` +
      ' (an upper bound: the thread also waits on SQLite fsyncs, and CPU costs measured under contention run high)',
  );
  console.log(machineLoad());
  const met = freshRow.rate >= GOAL_RATE;
  console.log(goalLine(`${GOAL_RATE} enrollments/s, each on a new TLS connection`, met));
  report('enrollment', {
    goalMet: met,
    keepAlive: { rate: keepAliveRow.rate, ...keepAliveRow.latency },
    fresh: { rate: freshRow.rate, ...freshRow.latency },
    cpuMsKeepAlive: keepAliveMs,
    cpuMsFresh: freshMs,
    hubHandshakes: hubTlsRow.rate,
    bareHandshakes: bareTlsRow.rate,
  });
} finally {
  await bare?.stop();
  await hub.stop();
  await removeDir(hub.dataDir);
}
