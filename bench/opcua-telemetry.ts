/**
 * OPC UA values per second from the PLC simulator through the connector to an
 * MQTT subscriber and into the hub's latest-value table, and their latency
 * end to end (the value's OPC UA source timestamp to its arrival in the
 * table), against a bare node-opcua client subscribed to the same server in
 * the same run.
 *
 * The simulator (`outpost plc-sim --nodes N --interval I`) changes N nodes
 * every I ms; each node holds the tick count, so a gap in what a subscriber
 * receives for a node is a lost value. Two phases on the same simulator, one
 * after the other so each has the machine to itself:
 *   1. bare: a node-opcua client in this process subscribes to the N nodes;
 *   2. connector: `outpost opcua-connector` (its own process) subscribes to the
 *      same nodes with the same intervals and publishes each value (QoS 1) to
 *      an aedes broker in this process, whose subscriber hands each message to
 *      the hub's `LatestValues` table (under `devices/bench/`), as the hub's
 *      bridge does. Not measured: the agent's disk outbox and the WebSocket
 *      hop to the hub (see docs/benchmarks.md).
 *
 *   npm run bench -- opcua-telemetry   (BENCH_SECONDS=N per phase, default 10;
 *   BENCH_OPCUA_NODES (1000) and BENCH_OPCUA_INTERVAL_MS (50) set the offered rate)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import type { ConnectorConfig } from '../src/api/index.ts';
import { LatestValues } from '../src/hub/telemetry/index.ts';
import { startBroker, startConnector, startPlcSim, waitFor, writeConfig } from '../test/support/index.ts';
import {
  cpuMeter,
  fmt,
  goalLine,
  machineLoad,
  ownCpuSeconds,
  report,
  roundMs,
  summarize,
  table,
} from './support/index.ts';

const NODES = Number(process.env.BENCH_OPCUA_NODES ?? 1000);
const INTERVAL_MS = Number(process.env.BENCH_OPCUA_INTERVAL_MS ?? 50);
const PUBLISHING_MS = 100;
const WARMUP_MS = 3000;
const GOAL_RATE = 20_000;

/** What one subscriber saw during the measuring window. */
class Tally {
  count = 0;
  readonly latencies: number[] = [];
  /** Per node: the last tick received, and the gaps (lost values) between ticks. */
  readonly lastTick = new Map<number, number>();
  lost = 0;
  duplicates = 0;
  measuring = false;

  see(node: number, tick: number, sourceMs: number, nowMs: number): void {
    const previous = this.lastTick.get(node);
    // Gaps count over the whole run after the first value of each node: a loss is a loss.
    if (previous !== undefined) {
      if (tick <= previous) this.duplicates++;
      else this.lost += tick - previous - 1;
    }
    this.lastTick.set(node, tick);
    if (!this.measuring) return;
    this.count++;
    this.latencies.push(nowMs - sourceMs);
  }
}

/**
 * One phase: waits until every node has sent a value, warms up, then counts
 * for `seconds`; returns the values/s received and offered (the simulator's
 * ticks in the window, times the nodes).
 */
async function phase(
  tally: Tally,
  seconds: number,
  tick: () => Promise<number>,
): Promise<{ rate: number; offered: number; ms: number }> {
  await waitFor('a value of every node', () => tally.lastTick.size === NODES, 180_000, 200);
  await new Promise((resolve) => setTimeout(resolve, WARMUP_MS));
  const firstTick = await tick();
  tally.measuring = true;
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, seconds));
  tally.measuring = false;
  const ms = performance.now() - started;
  const ticks = (await tick()) - firstTick;
  return { rate: (tally.count * 1000) / ms, offered: (ticks * NODES * 1000) / ms, ms };
}

async function bareClient(endpointUrl: string, pkiDir: string, tally: Tally) {
  const { AttributeIds, ClientMonitoredItemGroup, OPCUACertificateManager, OPCUAClient, TimestampsToReturn } =
    await import('node-opcua');
  const client = OPCUAClient.create({
    endpointMustExist: false,
    clientCertificateManager: new OPCUACertificateManager({
      rootFolder: pkiDir,
      automaticallyAcceptUnknownCertificate: true,
    }),
  });
  await client.connect(endpointUrl);
  const session = await client.createSession();
  const subscription = await session.createSubscription2({
    requestedPublishingInterval: PUBLISHING_MS,
    requestedLifetimeCount: 60,
    requestedMaxKeepAliveCount: 10,
    maxNotificationsPerPublish: 0,
    publishingEnabled: true,
    priority: 10,
  });
  const group = ClientMonitoredItemGroup.create(
    subscription,
    Array.from({ length: NODES }, (_, i) => ({ nodeId: `ns=2;s=Node${i}`, attributeId: AttributeIds.Value })),
    { samplingInterval: 0, discardOldest: true, queueSize: PUBLISHING_MS + 10 },
    TimestampsToReturn.Both,
  );
  group.on('changed', (_item, dataValue, index) => {
    tally.see(index, dataValue.value.value as number, dataValue.sourceTimestamp?.getTime() ?? 0, Date.now());
  });
  return {
    /** The simulator's tick count now (read, not subscribed: the offered rate, whatever the subscribers keep up with). */
    async tick(): Promise<number> {
      const dataValue = await session.read({ nodeId: 'ns=2;s=Node0', attributeId: AttributeIds.Value });
      return dataValue.value.value as number;
    },
    stopSubscription: () => subscription.terminate(),
    async close() {
      await session.close();
      await client.disconnect();
    },
  };
}

process.env.NODEOPCUA_LOG_LEVEL ??= '3'; // node-opcua's load-time warnings go to stdout
const dir = mkdtempSync(join(tmpdir(), 'outpost-bench-opcua-'));
const seconds = roundMs(10);
console.log(
  `opcua-telemetry: ${NODES} nodes changing every ${INTERVAL_MS} ms (offered ${fmt((NODES * 1000) / INTERVAL_MS)} values/s), publishing interval ${PUBLISHING_MS} ms, ${seconds / 1000} s per phase`,
);
const sim = await startPlcSim([
  '--port',
  '0',
  '--interval',
  `${INTERVAL_MS}ms`,
  '--nodes',
  String(NODES),
  '--pki-dir',
  join(dir, 'sim'),
]);
const simCpu = cpuMeter(sim.process.pid!);
const rows: string[][] = [];
const results: Record<string, unknown>[] = [];
try {
  // Phase 1: the bare client.
  const bare = new Tally();
  const bareCpuBefore = ownCpuSeconds();
  const simBare = cpuMeter(sim.process.pid!);
  const client = await bareClient(sim.ready, join(dir, 'bare'), bare);
  const bareRun = await phase(bare, seconds, () => client.tick());
  const bareCpu = ownCpuSeconds() - bareCpuBefore;
  const simBareCpu = simBare.stop();
  await client.stopSubscription();
  const bareLatency = summarize(bare.latencies);

  // Phase 2: through the connector, MQTT and the latest-value table.
  const broker = await startBroker();
  const table_ = new LatestValues();
  const viaTable = new Tally();
  table_.onValue((value) => {
    const node = Number(value.feature.slice(1));
    viaTable.see(node, value.value as number, Date.parse(value.sourceTimestamp ?? ''), Date.now());
  });
  const subscriber = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
  subscriber.on('message', (topic, payload) => table_.accept(`devices/bench/${topic}`, payload));
  await subscriber.subscribeAsync('telemetry/#', { qos: 1 });
  const config: ConnectorConfig = {
    connector: { namespace: 'bench', name: 'plc' },
    server: sim.ready,
    samplingIntervalMs: 0,
    publishingIntervalMs: PUBLISHING_MS,
    subscriptions: Object.fromEntries(Array.from({ length: NODES }, (_, i) => [`n${i}`, `ns=2;s=Node${i}`])),
  };
  const connector = await startConnector(
    writeConfig(dir, 'config.yaml', config),
    broker.url,
    join(dir, 'connector'),
  );
  const connectorCpu = cpuMeter(connector.process.pid!);
  const simConnector = cpuMeter(sim.process.pid!);
  const benchCpuBefore = ownCpuSeconds();
  const connectorRun = await phase(viaTable, seconds, () => client.tick());
  const benchCpu = ownCpuSeconds() - benchCpuBefore;
  const connectorSeconds = connectorCpu.stop();
  const simConnectorCpu = simConnector.stop();
  await connector.stop();
  await client.close();
  await subscriber.endAsync();
  await broker.close();
  const viaLatency = summarize(viaTable.latencies);

  const row = (
    name: string,
    run: { rate: number; offered: number; ms: number },
    tally: Tally,
    latency: typeof bareLatency,
    cpu: string,
  ) => [
    name,
    fmt(run.offered),
    fmt(run.rate),
    fmt(tally.lost, 0),
    fmt(tally.duplicates, 0),
    fmt(latency.p50),
    fmt(latency.p99),
    fmt(latency.max),
    cpu,
  ];
  rows.push(
    row(
      'bare node-opcua client',
      bareRun,
      bare,
      bareLatency,
      `client ${fmt(bareCpu / (bareRun.ms / 1000))}, sim ${fmt(simBareCpu / ((bareRun.ms + WARMUP_MS) / 1000))}`,
    ),
    row(
      'connector -> MQTT -> latest values',
      connectorRun,
      viaTable,
      viaLatency,
      `connector ${fmt(connectorSeconds / ((connectorRun.ms + WARMUP_MS) / 1000))}, broker+table ${fmt(benchCpu / (connectorRun.ms / 1000))}, sim ${fmt(simConnectorCpu / ((connectorRun.ms + WARMUP_MS) / 1000))}`,
    ),
  );
  console.log(
    `\n${table(['path', 'offered/s', 'received/s', 'lost', 'dup', 'p50 ms', 'p99 ms', 'max ms', 'CPU (cores)'], rows)}`,
  );
  console.log(machineLoad());
  const ratio = connectorRun.rate / bareRun.rate;
  const met = connectorRun.rate >= GOAL_RATE && viaTable.lost === 0 && ratio >= 0.8;
  console.log(`connector / bare: ${fmt(ratio)}`);
  console.log(
    goalLine(
      `>= ${fmt(GOAL_RATE)} values/s through the connector, none lost, >= 0.8 of the bare client`,
      met,
    ),
  );
  results.push(
    { path: 'bare', rate: bareRun.rate, offered: bareRun.offered, lost: bare.lost, p99: bareLatency.p99 },
    {
      path: 'connector',
      rate: connectorRun.rate,
      offered: connectorRun.offered,
      lost: viaTable.lost,
      p99: viaLatency.p99,
      ratio,
    },
  );
  report('opcua-telemetry', {
    goalMet: met,
    nodes: NODES,
    intervalMs: INTERVAL_MS,
    results,
    simCpu: simCpu.stop(),
  });
} finally {
  await sim.stop();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
