/**
 * The hub away for a while: with a hub, an agent (process runtime),
 * `outpost plc-sim` and a connector applied with kubectl, the hub is stopped
 * (SIGTERM) and started again on the same data dir and port. The connector
 * keeps publishing on the device meanwhile; those values wait in the agent's
 * outbox and reach the hub's broker afterwards: in order, none lost, none
 * twice (`seq` counts every value of the connector's run).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import {
  type AgentProcess,
  connectorManifest,
  Gate,
  type HubMessage,
  type HubProcess,
  killWorkloads,
  kubectlOk,
  observe,
  observeHub,
  removeConnectorPki,
  removeDir,
  settleAll,
  startHubProcess,
  startLabelledAgent,
  startSimulator,
  tempDir,
  waitFor,
} from '../support/index.ts';

const NS = 'opcua-hub-offline';
const NAME = 'line-1';
const DEVICE = 'gw-opcua-hub-offline';
const TELEMETRY = `telemetry/${NS}/${NAME}`;

describe('OPC UA connector while the hub is away', { timeout: 300_000 }, () => {
  let hub: HubProcess;
  let agent: AgentProcess;
  let sim: Awaited<ReturnType<typeof startSimulator>>;
  let gate: Gate;
  let hubPort: number;
  let agentDir: string;
  const dirs: string[] = [];
  const closers: Array<() => Promise<void>> = [];
  /** What the hub's broker delivered, in arrival order (across both hub runs). */
  const atHub: HubMessage[] = [];
  const hubSeqs = () => atHub.map((m) => m.body.seq!);

  before(async () => {
    agentDir = await tempDir('outpost-opcua-offline-agent-');
    const simPki = await tempDir('outpost-opcua-offline-sim-');
    dirs.push(agentDir, simPki);
    hub = await startHubProcess();
    dirs.push(hub.dataDir);
    hubPort = Number(new URL(hub.url).port);
    // The agent reaches the hub through a gate, so that after the restart it reconnects only
    // once the test listens on the new hub's broker (else values could pass unseen).
    gate = new Gate(() => hubPort);
    const gateUrl = await gate.listen();
    await settleAll([
      startLabelledAgent(hub, {
        name: DEVICE,
        labels: 'opcua-e2e=hub-offline',
        dataDir: agentDir,
        hubUrl: gateUrl,
      }).then((started) => {
        agent = started;
      }),
      startSimulator(simPki).then((started) => {
        sim = started;
      }),
    ]);
    await kubectlOk(hub, ['create', 'namespace', NS]);
    const observer = await observeHub(hub, [`devices/${DEVICE}/${TELEMETRY}/#`], atHub);
    closers.push(observer.close);
    const connector = connectorManifest(
      NS,
      NAME,
      sim.ready,
      { temperature: 'ns=2;s=Temperature', pressure: 'ns=2;s=Pressure' },
      { 'opcua-e2e': 'hub-offline' },
    );
    await kubectlOk(hub, ['apply', '-f', '-'], YAML.stringify(connector));
  });

  after(async () => {
    for (const close of closers) await close().catch(() => undefined);
    await agent?.stop();
    if (agentDir) killWorkloads(agentDir);
    await sim?.stop();
    await hub?.stop();
    await gate?.close();
    for (const dir of dirs) await removeDir(dir);
    await removeConnectorPki(NS, NAME);
  });

  it('delivers the values produced while the hub was stopped afterwards, in order, none lost or twice', async (t) => {
    await waitFor('values at the hub', () => atHub.length >= 10, 90_000);
    // What the connector publishes on the device, seen on the agent's local endpoint.
    const { port } = JSON.parse(readFileSync(join(agentDir, 'mqtt.json'), 'utf8')) as { port: number };
    const local = await observe(`mqtt://127.0.0.1:${port}`, [`${TELEMETRY}/#`]);
    closers.push(local.close);

    await hub.stop();
    gate.shut();
    const from = local.messages.length;
    const atStop = hubSeqs().at(-1)!;
    // "A while": 40 values (about 4 s) published on the device with no hub to take them.
    await waitFor(
      'values published on the device while the hub is away',
      () => local.messages.length >= from + 40,
    );
    hub = await startHubProcess({ dataDir: hub.dataDir, args: ['--listen', `127.0.0.1:${hubPort}`] });
    const observer = await observeHub(hub, [`devices/${DEVICE}/${TELEMETRY}/#`], atHub);
    closers.push(observer.close);
    // Everything the connector published while no hub could take it.
    const meanwhile = local.messages.slice(from).map((m) => m.body.seq as number);
    assert.ok(
      meanwhile.every((seq) => seq > atStop),
      'the values meanwhile are new ones',
    );
    gate.open = true;
    const live = meanwhile.at(-1)!;
    await waitFor(
      'the buffered values and live ones at the restarted hub',
      () => hubSeqs().some((seq) => seq > live),
      90_000,
    );

    const seqs = hubSeqs();
    const first = seqs[0]!;
    t.diagnostic(
      `${meanwhile.length} values buffered while the hub was away; ${seqs.length} values (seq ${first}..${seqs.at(-1)}) at the hub`,
    );
    assert.deepEqual(
      seqs,
      Array.from({ length: seqs.length }, (_, i) => first + i),
      'every value once, in order',
    );
    for (const seq of meanwhile) assert.ok(seqs.includes(seq), `value ${seq} from the outage arrived`);
    // Each arrived under its feature's topic with its value.
    for (const message of atHub) {
      assert.match(message.topic, new RegExp(`^devices/${DEVICE}/${TELEMETRY}/(temperature|pressure)$`));
      assert.equal(typeof message.body.value, 'number');
    }
  });
});
