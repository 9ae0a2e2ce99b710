/**
 * The PLC goes away and comes back: with a hub, an agent (process runtime),
 * `outpost plc-sim` and a connector applied with kubectl, the simulator is
 * SIGKILLed and started again on the same port. Meanwhile the connector's
 * status tells it is disconnected; afterwards it reconnects by itself and
 * values resume in `outpost telemetry watch`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import {
  type AgentProcess,
  connectorManifest,
  type HubProcess,
  killWorkloads,
  kubectlGet,
  kubectlOk,
  portOf,
  removeConnectorPki,
  removeDir,
  settleAll,
  startHubProcess,
  startLabelledAgent,
  startSimulator,
  startTelemetryWatch,
  telemetryLines,
  tempDir,
  type WatchProcess,
  waitFor,
} from '../support/index.ts';

const NS = 'opcua-plc-restart';
const NAME = 'line-1';
const DEVICE = 'gw-opcua-plc-restart';

interface Connection {
  device: string;
  connected: boolean;
  error?: string;
}

describe('OPC UA connector when the PLC restarts', { timeout: 300_000 }, () => {
  let hub: HubProcess;
  let agent: AgentProcess;
  let sim: Awaited<ReturnType<typeof startSimulator>>;
  let watch: WatchProcess;
  let agentDir: string;
  let simPki: string;
  const dirs: string[] = [];

  /** The values `outpost telemetry watch` printed for `feature` with a source time after `since`. */
  const printedSince = (feature: string, since: number) =>
    telemetryLines(watch.stdout()).filter(
      (line) => line.device === DEVICE && line.feature === feature && Date.parse(line.time) > since,
    );
  const connection = async () =>
    ((await kubectlGet(hub, 'opcua', NAME, '-n', NS))?.status?.connections as Connection[] | undefined)?.find(
      (c) => c.device === DEVICE,
    );

  before(async () => {
    agentDir = await tempDir('outpost-opcua-plc-agent-');
    simPki = await tempDir('outpost-opcua-plc-sim-');
    dirs.push(agentDir, simPki);
    hub = await startHubProcess();
    dirs.push(hub.dataDir);
    await settleAll([
      startLabelledAgent(hub, { name: DEVICE, labels: 'opcua-e2e=plc-restart', dataDir: agentDir }).then(
        (started) => {
          agent = started;
        },
      ),
      startSimulator(simPki).then((started) => {
        sim = started;
      }),
    ]);
    await kubectlOk(hub, ['create', 'namespace', NS]);
    const connector = connectorManifest(
      NS,
      NAME,
      sim.ready,
      { temperature: 'ns=2;s=Temperature', pressure: 'ns=2;s=Pressure' },
      { 'opcua-e2e': 'plc-restart' },
    );
    await kubectlOk(hub, ['apply', '-f', '-'], YAML.stringify(connector));
    watch = startTelemetryWatch(hub, ['-n', NS, '--connector', NAME]);
  });

  after(async () => {
    await watch?.stop();
    await agent?.stop();
    if (agentDir) killWorkloads(agentDir);
    await sim?.stop();
    await hub?.stop();
    for (const dir of dirs) await removeDir(dir);
    await removeConnectorPki(NS, NAME);
  });

  it('resumes the values after the simulator is killed and started again on the same port', async (t) => {
    await waitFor(
      'values before the restart',
      () => printedSince('temperature', 0).length >= 3 && printedSince('pressure', 0).length >= 3,
      90_000,
    );
    const port = portOf(sim.ready);
    await sim.stop('SIGKILL');
    const killedAt = Date.now();

    const down = await waitFor('the connector status to say it is disconnected', async () => {
      const found = await connection();
      return found && !found.connected ? { ...found, at: Date.now() } : undefined;
    });
    assert.ok(down.error, 'with the reason');

    sim = await startSimulator(simPki, port);
    assert.equal(portOf(sim.ready), port);
    const restartedAt = Date.now();
    await waitFor(
      'temperature and pressure from the restarted simulator',
      () =>
        printedSince('temperature', restartedAt).length >= 3 &&
        printedSince('pressure', restartedAt).length >= 3,
      60_000,
    ).catch((error: Error) => {
      throw new Error(`${error.message}; watch printed: ${watch.stdout().slice(-2000)}`);
    });
    const resumed = Math.min(
      ...printedSince('temperature', restartedAt).map((line) => Date.parse(line.time)),
    );
    t.diagnostic(
      `disconnected status after ${down.at - killedAt} ms; values resumed ${resumed - restartedAt} ms after the restart`,
    );
    const meanwhile = printedSince('temperature', killedAt + 1000).filter(
      (line) => Date.parse(line.time) < restartedAt - 1000,
    );
    assert.deepEqual(meanwhile, [], 'no value while the simulator was down');
    await waitFor(
      'the connector status to say it is connected again',
      async () => (await connection())?.connected,
    );
  });
});
