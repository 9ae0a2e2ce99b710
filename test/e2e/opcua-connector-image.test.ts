import { execFile, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { observe, startBroker, startPlcSim, waitForMessage, writeConfig } from '../support/index.ts';

const run = promisify(execFile);
const hasPodman = spawnSync('podman', ['--version']).status === 0;

test('the connector image built without a registry publishes values when run by podman', {
  timeout: 300_000,
  skip: hasPodman ? false : 'podman is not installed (scripts/setup-system.sh installs it)',
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-opcua-image-'));
  const conf = join(dir, 'containers.conf');
  writeFileSync(
    conf,
    '[containers]\ndefault_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n',
  );
  const env = { ...process.env, CONTAINERS_CONF: conf };
  const script = join(import.meta.dirname, '../../scripts/build-connector-image.sh');
  await run('bash', [script], { env, timeout: 240_000 });
  const image = (await run('bash', [script, '--print-image'], { env })).stdout.trim();

  const broker = await startBroker();
  const observer = await observe(broker.url, ['telemetry/#', 'status/#']);
  const sim = await startPlcSim(['--port', '0', '--interval', '200ms', '--pki-dir', join(dir, 'sim')]);
  const name = `outpost-opcua-image-test-${randomBytes(4).toString('hex')}`;
  let container: ReturnType<typeof spawn> | undefined;
  let output = '';
  try {
    const configDir = join(dir, 'cfg');
    mkdirSync(configDir);
    writeConfig(configDir, 'config.yaml', {
      connector: { namespace: 'plant', name: 'image' },
      server: sim.ready,
      samplingIntervalMs: 200,
      publishingIntervalMs: 200,
      subscriptions: { temperature: 'ns=2;s=Temperature', pressure: 'ns=2;s=Pressure' },
    });
    container = spawn(
      'podman',
      [
        'run',
        '--rm',
        '--name',
        name,
        '--network',
        'host',
        '-e',
        `OUTPOST_MQTT_URL=${broker.url}`,
        '-v',
        `${configDir}:/cfg:ro`,
        image,
        'outpost',
        'opcua-connector',
        '--config',
        '/cfg/config.yaml',
      ],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    container.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    container.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    await waitForMessage(
      observer.messages,
      'a temperature from the connector in the container',
      (m) => m.topic === 'telemetry/plant/image/temperature',
      0,
      120_000,
    ).catch((error: Error) => {
      throw new Error(`${error.message}; container output: ${output}`);
    });
    await waitForMessage(
      observer.messages,
      'a pressure too',
      (m) => m.topic === 'telemetry/plant/image/pressure',
    );
    await run('podman', ['stop', '-t', '10', name], { env });
    await waitForMessage(
      observer.messages,
      'the stopped status',
      (m) =>
        m.topic === 'status/plant/image' &&
        m.body.connected === false &&
        m.body.error === 'connector stopped',
    );
  } finally {
    await run('podman', ['rm', '-f', '--ignore', name], { env }).catch(() => undefined);
    container?.kill('SIGKILL');
    await sim.stop();
    await observer.close();
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
