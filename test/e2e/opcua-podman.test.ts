/**
 * The connector image on the podman runtime: `scripts/build-connector-image.sh`
 * builds `localhost/outpost-opcua-connector:<version>` without a registry, an
 * `outpost agent --runtime podman` runs the StatefulSet rendered for an
 * OpcUaConnector applied with kubectl as a podman pod (host network: the
 * container reaches the agent's MQTT endpoint on 127.0.0.1), and the
 * simulator's values reach the hub. Deleting the connector removes the pod.
 */
import assert from 'node:assert/strict';
import { hash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import {
  type AgentProcess,
  connectorManifest,
  type HubProcess,
  kubectlOk,
  liveConnectorProcesses,
  ROOT,
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

const NS = 'opcua-podman';
const NAME = 'line-1';
const DEVICE = 'gw-opcua-podman';
const hasPodman = (await run('podman', ['--version'])).code === 0;

describe('OPC UA connector image on the podman runtime', {
  timeout: 420_000,
  skip: hasPodman ? false : 'podman is not installed (scripts/setup-system.sh installs it)',
}, () => {
  let hub: HubProcess;
  let agent: AgentProcess;
  let sim: Awaited<ReturnType<typeof startSimulator>>;
  let watch: WatchProcess | undefined;
  let agentDir: string;
  let owner: string;
  const dirs: string[] = [];

  /** `podman ARGS` in root's store, with the agent's containers.conf. */
  const podman = async (...args: string[]) => {
    const result = await run('podman', args, {
      env: { CONTAINERS_CONF: join(agentDir, 'podman', 'containers.conf') },
    });
    if (result.code !== 0) throw new Error(`podman ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  };
  /** The agent's pods: name and status. */
  const pods = async () =>
    (
      await podman(
        'pod',
        'ps',
        '--filter',
        `label=outpost.dev/owner=${owner}`,
        '--format',
        '{{.Name}} {{.Status}}',
      )
    )
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split(' '))
      .map(([name, status]) => ({ name: name!, status: status! }));
  const printed = (feature: string) =>
    telemetryLines(watch?.stdout() ?? '').filter(
      (line) => line.device === DEVICE && line.connector === `${NS}/${NAME}` && line.feature === feature,
    );

  before(async () => {
    const setup = await run('bash', [join(ROOT, 'scripts/setup-system.sh')], { timeoutMs: 300_000 });
    assert.equal(setup.code, 0, setup.stderr);
    const image = await run('bash', [join(ROOT, 'scripts/build-connector-image.sh')], { timeoutMs: 240_000 });
    assert.equal(image.code, 0, image.stderr);
    agentDir = await tempDir('outpost-opcua-podman-agent-');
    const simPki = await tempDir('outpost-opcua-podman-sim-');
    dirs.push(agentDir, simPki);
    owner = hash('sha256', resolve(agentDir), 'hex').slice(0, 12);
    hub = await startHubProcess();
    dirs.push(hub.dataDir);
    await settleAll([
      startLabelledAgent(hub, {
        name: DEVICE,
        labels: 'opcua-e2e=podman',
        dataDir: agentDir,
        args: ['--runtime', 'podman'],
      }).then((started) => {
        agent = started;
      }),
      startSimulator(simPki).then((started) => {
        sim = started;
      }),
    ]);
    await kubectlOk(hub, ['create', 'namespace', NS]);
  });

  after(async () => {
    await watch?.stop();
    await agent?.stop();
    // Left only if the agent could not stop them.
    if (agentDir)
      for (const { name } of await pods().catch(() => []))
        await podman('pod', 'rm', '-f', name).catch(() => {});
    await sim?.stop();
    await hub?.stop();
    for (const dir of dirs) await removeDir(dir);
  });

  it('runs the connector image as a pod whose values reach the hub', async () => {
    const connector = connectorManifest(
      NS,
      NAME,
      sim.ready,
      { temperature: 'ns=2;s=Temperature', pressure: 'ns=2;s=Pressure' },
      { 'opcua-e2e': 'podman' },
    );
    await kubectlOk(hub, ['apply', '-f', '-'], YAML.stringify(connector));
    watch = startTelemetryWatch(hub, ['-n', NS, '--connector', NAME]);
    await waitFor(
      'temperature and pressure from the container in `outpost telemetry watch`',
      () => printed('temperature').length >= 3 && printed('pressure').length >= 3,
      180_000,
    ).catch(async (error: Error) => {
      const logs = await podman('pod', 'ps', '-a').catch((e: Error) => e.message);
      throw new Error(`${error.message}; watch: ${watch?.stdout()} ${watch?.stderr()}; pods: ${logs}`);
    });
    const running = await pods();
    assert.equal(running.length, 1, JSON.stringify(running));
    assert.equal(running[0]!.status, 'Running');
    assert.deepEqual(liveConnectorProcesses(agentDir, NAME), [], 'not a host process');
  });

  it('removes the pod when the connector is deleted', async () => {
    await kubectlOk(hub, ['delete', 'opcua', NAME, '-n', NS]);
    await waitFor('no pod left', async () => (await pods()).length === 0, 120_000, 250);
  });
});
