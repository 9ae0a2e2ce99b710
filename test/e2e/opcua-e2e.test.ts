/**
 * OPC UA end to end with processes, as a user drives it: an `outpost hub`, an
 * `outpost agent` (process runtime) labelled as a gateway, `outpost plc-sim`,
 * and an OpcUaConnector applied with kubectl. Its values reach the hub
 * (`outpost telemetry watch`, the connector's status); a subscription change
 * updates the running connector in place; `outpost command send` writes a set
 * point on the simulator; a bad spec is a 422; deleting the connector removes
 * what it rendered and stops it on the device.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import {
  type AgentProcess,
  connectorManifest,
  type HubProcess,
  isAlive,
  killWorkloads,
  kubectl,
  kubectlGet,
  kubectlOk,
  liveConnectorProcesses,
  OUTPOST_BIN,
  readOpcUaValue,
  removeConnectorPki,
  removeDir,
  run,
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

const NS = 'opcua-e2e';
const NAME = 'line-1';
const DEVICE = 'gw-opcua-e2e';

interface ConnectorStatus {
  workload?: string;
  placement?: string;
  lastValueTime?: string;
  devices?: { matched: number; running: number; connected?: number };
  connections?: Array<{ device: string; connected: boolean; error?: string; lastValueTime?: string }>;
  conditions?: Array<{ type: string; status: string; reason?: string }>;
}

describe('OPC UA connector end to end (hub, agent, simulator, kubectl)', { timeout: 300_000 }, () => {
  let hub: HubProcess;
  let agent: AgentProcess;
  let sim: Awaited<ReturnType<typeof startSimulator>>;
  let watch: WatchProcess | undefined;
  const dirs: string[] = [];
  let agentDir: string;
  let clientPki: string;

  const outpost = (...args: string[]) =>
    run(process.execPath, [OUTPOST_BIN, ...args, '--kubeconfig', hub.kubeconfig], { timeoutMs: 60_000 });
  /** Values `outpost telemetry watch` printed for `feature` of this device's connector. */
  const printed = (feature: string) =>
    telemetryLines(watch?.stdout() ?? '').filter(
      (line) => line.device === DEVICE && line.connector === `${NS}/${NAME}` && line.feature === feature,
    );
  const connectorStatus = async () =>
    (await kubectlGet(hub, 'opcua', NAME, '-n', NS))?.status as ConnectorStatus | undefined;
  const manifest = (subscriptions: Record<string, string>) =>
    YAML.stringify(connectorManifest(NS, NAME, sim.ready, subscriptions, { 'opcua-e2e': 'line' }));

  before(async () => {
    const simPki = await tempDir('outpost-opcua-e2e-sim-');
    agentDir = await tempDir('outpost-opcua-e2e-agent-');
    clientPki = await tempDir('outpost-opcua-e2e-client-');
    dirs.push(simPki, agentDir, clientPki);
    hub = await startHubProcess();
    dirs.push(hub.dataDir);
    // The test's own OPC UA client makes its certificate on first use (seconds): meanwhile.
    let setpoint: unknown;
    await settleAll([
      startLabelledAgent(hub, { name: DEVICE, labels: 'opcua-e2e=line', dataDir: agentDir }).then(
        (started) => {
          agent = started;
        },
      ),
      startSimulator(simPki).then(async (started) => {
        sim = started;
        setpoint = await readOpcUaValue(sim.ready, 'ns=2;s=TemperatureSetpoint', clientPki);
      }),
    ]);
    assert.equal(setpoint, 21.5, "the simulator's initial set point");
    await kubectlOk(hub, ['create', 'namespace', NS]);
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

  it('brings Temperature and Pressure from the simulator to the hub once a connector selects the device', async () => {
    await kubectlOk(
      hub,
      ['apply', '-f', '-'],
      manifest({ temperature: 'ns=2;s=Temperature', pressure: 'ns=2;s=Pressure' }),
    );
    watch = startTelemetryWatch(hub, ['-n', NS, '--connector', NAME]);
    const values = await waitFor(
      'temperature and pressure in `outpost telemetry watch`',
      () => {
        const temperature = printed('temperature');
        const pressure = printed('pressure');
        return temperature.length >= 3 && pressure.length >= 3 ? { temperature, pressure } : undefined;
      },
      90_000,
    ).catch((error: Error) => {
      throw new Error(`${error.message}; watch printed: ${watch?.stdout()} ${watch?.stderr()}`);
    });
    // The simulator starts at 20 °C and 1.013 bar.
    for (const line of values.temperature) assert.ok(Math.abs(Number(line.value) - 20) < 5, line.value);
    for (const line of values.pressure) assert.ok(Math.abs(Number(line.value) - 1.013) < 0.5, line.value);
    assert.ok(new Set(values.temperature.map((line) => line.value)).size > 1, 'the values change');

    const status = await waitFor(
      'the connector status to show the device connected with a value time',
      async () => {
        const found = await connectorStatus();
        const connection = found?.connections?.find((c) => c.device === DEVICE);
        return found?.devices?.connected === 1 && connection?.connected && connection.lastValueTime
          ? found
          : undefined;
      },
    );
    assert.equal(status.workload, NAME);
    assert.equal(status.placement, NAME);
    assert.deepEqual(
      { matched: status.devices?.matched, running: status.devices?.running },
      { matched: 1, running: 1 },
    );
    assert.ok(Date.now() - Date.parse(status.lastValueTime!) < 60_000, `recent: ${status.lastValueTime}`);
    assert.equal(status.conditions?.find((c) => c.type === 'Rendered')?.status, 'True');
    const workload = await kubectlGet(hub, 'workload', NAME, '-n', NS);
    const resources = (workload?.spec?.resources ?? []) as Array<{
      kind: string;
      metadata: { name: string };
    }>;
    assert.deepEqual(
      resources.map((r) => `${r.kind}/${r.metadata.name}`),
      [`Secret/${NAME}-config`, `StatefulSet/${NAME}`],
    );
  });

  it('updates the running connector in place when a feature is added', async () => {
    const before = await kubectlGet(hub, 'workload', NAME, '-n', NS);
    assert.ok(before);
    await kubectlOk(
      hub,
      ['apply', '-f', '-'],
      manifest({
        temperature: 'ns=2;s=Temperature',
        pressure: 'ns=2;s=Pressure',
        temperatureSetpoint: 'ns=2;s=TemperatureSetpoint',
      }),
    );
    const setpoint = await waitFor(
      'the new feature in `outpost telemetry watch`',
      () => printed('temperatureSetpoint')[0],
      90_000,
    );
    assert.equal(Number(setpoint.value), 21.5, "the simulator's initial set point");
    const count = printed('temperature').length;
    await waitFor('temperature still arriving', () => printed('temperature').length > count + 2);
    const afterwards = await kubectlGet(hub, 'workload', NAME, '-n', NS);
    assert.equal(afterwards?.metadata.uid, before.metadata.uid, 'the same Workload, not a new one');
    assert.equal(afterwards?.metadata.generation, (before.metadata.generation ?? 0) + 1);
  });

  it('writes a set point through `outpost command send` and prints the acknowledgement', async () => {
    const sent = await waitFor('the command acknowledged', async () => {
      const result = await outpost(
        'command',
        'send',
        NAME,
        'temperatureSetpoint',
        '55',
        '--device',
        DEVICE,
        '-n',
        NS,
      );
      // The connector may be restarting with its new config: a 502 BadNotConnected is worth a retry.
      if (result.code !== 0 && /BadNotConnected|BadCommunication|Timeout/.test(result.stderr))
        return undefined;
      return result;
    });
    assert.equal(sent.code, 0, sent.stderr);
    assert.equal(sent.stdout, `${DEVICE} acknowledged ${NS}/${NAME} temperatureSetpoint = 55: Good\n`);
    assert.equal(await readOpcUaValue(sim.ready, 'ns=2;s=TemperatureSetpoint', clientPki), 55);
    await waitFor('the new set point in `outpost telemetry watch`', () =>
      printed('temperatureSetpoint').some((line) => Number(line.value) === 55),
    );
  });

  it('refuses a command of the wrong type or for an unknown feature with a clear error and exit code 1', async (t) => {
    const wrongType = await outpost(
      'command',
      'send',
      NAME,
      'temperatureSetpoint',
      'hot',
      '--device',
      DEVICE,
      '-n',
      NS,
    );
    assert.equal(wrongType.code, 1, wrongType.stdout);
    assert.match(wrongType.stderr, /BadTypeMismatch/);
    assert.match(wrongType.stderr, /temperatureSetpoint/);
    assert.equal(wrongType.stdout, '');

    const unknown = await outpost('command', 'send', NAME, 'humidity', '40', '--device', DEVICE, '-n', NS);
    assert.equal(unknown.code, 1, unknown.stdout);
    t.diagnostic(`wrong type: ${wrongType.stderr.trim()}; unknown feature: ${unknown.stderr.trim()}`);
    assert.match(unknown.stderr, /no feature "humidity"/);
    assert.match(unknown.stderr, /temperatureSetpoint/, 'names the features there are');
    assert.equal(
      await readOpcUaValue(sim.ready, 'ns=2;s=TemperatureSetpoint', clientPki),
      55,
      'the set point is unchanged',
    );
  });

  it('refuses a bad spec with a 422 naming the field, and creates nothing', async () => {
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['bad-url', { server: 'http://plc:4840' }, /spec\.server/],
      [
        'bad-node',
        { subscriptions: { temperature: 'ns=2;Temperature' } },
        /spec\.subscriptions\.temperature/,
      ],
      ['bad-duration', { defaults: { samplingInterval: 'often' } }, /spec\.defaults\.samplingInterval/],
    ];
    for (const [name, change, field] of cases) {
      const object = connectorManifest(
        NS,
        name,
        sim.ready,
        { temperature: 'ns=2;s=Temperature' },
        {
          'opcua-e2e': 'line',
        },
      );
      object.spec = { ...(object.spec as object), ...change };
      const result = await kubectl(hub, ['apply', '-v=6', '-f', '-'], YAML.stringify(object));
      assert.equal(result.code, 1, name);
      assert.match(result.stderr, /opcuaconnectors\S* 422 Unprocessable Entity/, name);
      assert.match(result.stderr, field, name);
      for (const kind of ['opcua', 'workload', 'placement'])
        assert.equal(await kubectlGet(hub, kind, name, '-n', NS), undefined, `no ${kind} ${name}`);
    }
    const mailbox = await kubectlGet<{
      spec?: { objects?: Array<{ object: { metadata: { name: string } } }> };
    }>(hub, 'mailbox', DEVICE);
    const names = (mailbox?.spec?.objects ?? []).map((entry) => entry.object.metadata.name);
    assert.ok(!names.some((name) => name.startsWith('bad-')), `nothing bad reached the device: ${names}`);
  });

  it('removes the Workload and Placement it rendered and stops the connector on the device when deleted', async () => {
    const running = liveConnectorProcesses(agentDir, NAME);
    assert.equal(running.length, 1, JSON.stringify(running));
    const configFiles = () =>
      readdirSync(agentDir, { recursive: true }).filter((path) => String(path).endsWith('config.yaml'));
    assert.equal(configFiles().length, 1, 'the config Secret is a file on the device while it runs');
    await kubectlOk(hub, ['delete', 'opcua', NAME, '-n', NS]);
    await waitFor('the Workload and the Placement to be gone', async () => {
      const [workload, placement] = await Promise.all([
        kubectlGet(hub, 'workload', NAME, '-n', NS),
        kubectlGet(hub, 'placement', NAME, '-n', NS),
      ]);
      return workload === undefined && placement === undefined;
    });
    await waitFor('the connector process to stop', () => !isAlive(running[0]!.pid), 60_000);
    assert.deepEqual(liveConnectorProcesses(agentDir, NAME), []);
    const mailbox = await kubectlGet<{ spec?: { objects?: unknown[] } }>(hub, 'mailbox', DEVICE);
    assert.deepEqual(mailbox?.spec?.objects ?? [], [], "nothing left in the device's Mailbox");
    await waitFor(
      'the config (with the server credentials) gone from the device',
      () => configFiles().length === 0,
    );
  });
});
