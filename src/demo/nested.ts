/**
 * `outpost demo --nested` (root only): a nested network's three ISA-95
 * levels on one machine. The hub and the hub's MQTT broker (a Mosquitto it
 * is bridged to, `outpost hub --mqtt`: the top-level gateway's bridge goes
 * there) run in the root namespace; a level-4 gateway, a level-3 gateway and
 * a level-2 device each have their own network namespace
 * (`src/util/network-levels.ts`: each level reaches only the one above),
 * their agents started inside it. Level 4 enrolls directly; level 3 and 2
 * through their parent's proxy (`--proxy`, tokens naming the parent). The
 * gateways run the Squid and Mosquitto the hub renders for them; the PLC
 * simulator runs at level 2 and the demo's OpcUaConnector is placed on the
 * level-2 device, whose values cross two bridges to the hub and are printed
 * as they arrive, after a `kubectl get devices` style table.
 *
 * Each run starts afresh in `.outpost/demo-nested` (OUTPOST_DEMO_DIR): it
 * first stops what a killed run left (its recorded children, see
 * `leftovers.ts`, and the namespaces named after a demo process no longer
 * running, with every process inside). Ctrl-C at any moment, start-up
 * included, stops the agents (their workloads first), removes the
 * namespaces (their veths with them, and whatever still runs inside) and
 * stops the broker and the hub.
 */
import { closeSync, openSync, readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { createServer, connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { prepareDataDir } from '../cli/data-dir.ts';
import { createLogger } from '../cli/logger.ts';
import type { RunningHub } from '../hub/index.ts';
import {
  canBuildLevels,
  createNetworkLevels,
  delay,
  type LevelNumber,
  type NetworkLevels,
  namespaceNames,
  removeNamespaces,
} from '../util/index.ts';
import { VERSION } from '../version.ts';
import {
  type DemoChild,
  failWhenItExits,
  type StartOutpostOptions,
  startChild,
  startOutpost,
} from './children.ts';
import { recordStarted, stopLeftovers } from './leftovers.ts';

/** The devices of the three levels. */
export const NESTED_DEVICES: Readonly<Record<LevelNumber, string>> = {
  4: 'enterprise-l4',
  3: 'site-l3',
  2: 'area-l2',
};
/** The namespaces of a run are `opd<pid of the demo>-l4`...: a dead pid's are a killed run's. */
const NAMESPACE = /^opd(\d+)-l[234]$/;
/** The PLC simulator's port, inside level 2's namespace (its own: no other program there). */
const PLC_PORT = 4840;
/** A gateway's proxy port (the renderer's default, `proxyPort`): each level is its own namespace. */
const PROXY_PORT = 3128;

/** Whether the nested demo can run here; else the reason, for a clear message. */
export function nestedDemoUnavailable(): string | undefined {
  if (process.getuid?.() !== 0)
    return 'outpost demo --nested builds network namespaces and veth pairs: run it as root (e.g. sudo)';
  if (!canBuildLevels())
    return 'outpost demo --nested needs the `ip` command (iproute2) and network namespaces';
  return undefined;
}

/** Runs the demo until Ctrl-C (it ends the process). */
export async function runNestedDemo(): Promise<void> {
  const startedAt = Date.now();
  const dataDir = process.env.OUTPOST_DEMO_DIR ?? join(process.cwd(), '.outpost', 'demo-nested');
  const logPath = join(dataDir, 'demo.log');
  const children: DemoChild[] = [];
  let levels: NetworkLevels | undefined;
  let building: Promise<unknown> | undefined;
  let hub: RunningHub | undefined;
  let logFd: number | undefined;
  let stopValues = () => {};
  let stopping: Promise<void> | undefined;

  const say = (line: string) => {
    if (!process.stdout.writableEnded) process.stdout.write(`${line}\n`);
  };
  const isStopping = () => stopping !== undefined;

  /** Stops everything once, however often asked: agents (workloads first), namespaces, broker, hub; then exits. */
  const stop = (code: number): Promise<void> => {
    stopping ??= (async () => {
      stopValues();
      say('stopping...');
      // Started in order (broker, simulator, level 4, 3, 2): the device first, the broker last.
      for (const child of [...children].reverse()) await child.stop();
      await building?.catch(() => {});
      await levels?.remove();
      await hub?.close().catch(() => {});
      if (children.length > 0) await rm(join(dataDir, 'children.json'), { force: true });
      say('demo stopped (network namespaces removed)');
      if (logFd !== undefined) closeSync(logFd);
      process.exit(code);
    })();
    return stopping;
  };
  const failed = (error: Error) => {
    if (stopping) return;
    say(`demo failed: ${error.message} (see ${logPath})`);
    void stop(1);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void stop(0));
  process.stdout.on('error', () => void stop(0));

  /** Starts a child unless stopping, and records it for the next run (see leftovers.ts). */
  const spawnChild = (
    start: (options: StartOutpostOptions) => DemoChild,
    options: Omit<StartOutpostOptions, 'cwd' | 'logFd'> = {},
  ): DemoChild | undefined => {
    if (stopping) return undefined;
    const child = start({ cwd: dataDir, logFd: logFd!, ...options });
    children.push(child);
    recordStarted(dataDir, children);
    failWhenItExits(child, isStopping, failed);
    return child;
  };

  try {
    await prepareDataDir(dataDir, 'OUTPOST_DEMO_DIR');
    logFd = openSync(logPath, 'a');
    say(`Outpost ${VERSION} demo: a nested network (ISA-95 levels 4, 3 and 2 in network namespaces)`);
    const left = (await stopLeftovers(dataDir)) + (await removeStaleNamespaces());
    if (left > 0) say(`removed what an earlier run left: ${left} processes and namespaces`);
    // A fresh hub and fresh agents every run: the levels' addresses are new every run.
    for (const part of ['hub', 'agents', 'mosquitto'])
      await rm(join(dataDir, part), { recursive: true, force: true });
    if (stopping) return;

    building = createNetworkLevels(`opd${process.pid}`);
    levels = (await building) as NetworkLevels;
    const { hubAddress } = levels;
    const level = levels.levels;
    say(
      `levels: hub ${hubAddress} | level 4 ${level[4].address} | level 3 ${level[3].address} | level 2 ${level[2].address}`,
    );
    say('         each level reaches only the level above (no route, no forwarding)');
    if (stopping) return;

    const brokerUrl = await startBroker(hubAddress);
    if (stopping) return;
    say(`hub's MQTT broker (Mosquitto) on ${brokerUrl}`);
    const plc = spawnChild(
      (options) =>
        startOutpost(
          'plc-sim',
          [
            'plc-sim',
            '--port',
            String(PLC_PORT),
            '--interval',
            '500ms',
            '--pki-dir',
            join(dataDir, 'plc-sim'),
            '--log-format',
            'json',
          ],
          options,
        ),
      { netns: level[2].netns },
    );
    plc?.waitFor(/plc-sim listening on (opc\.tcp:\/\/\S+)/).then(
      ([, url]) => say(`PLC simulator at level 2 on ${url}`),
      (error: Error) => failed(error),
    );

    const [{ startHub }, examples, topology] = await Promise.all([
      import('../hub/index.ts'),
      import('./examples.ts'),
      import('./nested-hub.ts'),
    ]);
    if (stopping) return;
    hub = await startHub({
      dataDir: join(dataDir, 'hub'),
      host: hubAddress,
      port: 0,
      version: VERSION,
      mqttUrl: brokerUrl,
      logger: createLogger({ level: 'warn', format: 'json', fd: logFd }),
    });
    const service = hub.service;
    say(`hub listening on ${hub.url}`);
    say(`admin kubeconfig: ${hub.kubeconfigPath}`);
    await examples.applyConnector(service, `opc.tcp://127.0.0.1:${PLC_PORT}/UA/Outpost`);

    /** Enrolls the level's device (through `proxy` when given) and waits for its Device. */
    const enroll = async (n: LevelNumber, token: string, proxy?: string) => {
      const name = NESTED_DEVICES[n];
      const args = [
        ...['agent', '--hub', hub!.url, '--data-dir', join(dataDir, 'agents', `level${n}`), '--name', name],
        ...['--runtime', 'process', '--stop-workloads-on-exit', '--log-format', 'json'],
        ...(proxy ? ['--proxy', proxy] : []),
        ...(n === 2 ? ['--labels', 'role=opcua-gateway'] : []),
      ];
      const agent = spawnChild((options) => startOutpost(`agent ${name}`, args, options), {
        netns: level[n].netns,
        env: { OUTPOST_TOKEN: token },
      });
      if (!agent) return;
      say(`level ${n}: agent ${name} enrolling${proxy ? ` through ${proxy}` : ' directly'}`);
      await topology.waitForDevice(service, name, `${name} enrolled`, () => true, isStopping);
    };
    /** Makes the level's device the gateway of the level below and waits for its Squid (its child enrolls through it). */
    const gateway = async (n: 4 | 3) => {
      const name = NESTED_DEVICES[n];
      await topology.declareGateway(service, name, {
        level: n,
        address: level[n].downAddress,
        childNetwork: level[(n - 1) as LevelNumber].network,
      });
      await topology.waitForDevice(
        service,
        name,
        `${name}'s proxy running`,
        topology.proxyRunning,
        isStopping,
      );
      say(`level ${n}: ${name} runs its rendered Squid on ${level[n].downAddress}:${PROXY_PORT}`);
    };
    const proxyOf = (n: 4 | 3) => `http://${level[n].downAddress}:${PROXY_PORT}`;

    await enroll(4, await examples.createAgentToken(service, { labels: {}, description: 'demo level 4' }));
    await gateway(4);
    const siteToken = await examples.createAgentToken(service, {
      labels: {},
      parent: NESTED_DEVICES[4],
      level: 3,
      description: 'demo level 3',
    });
    await enroll(3, siteToken, proxyOf(4));
    await gateway(3);
    const areaToken = await examples.createAgentToken(service, {
      parent: NESTED_DEVICES[3],
      level: 2,
      description: 'demo level 2',
    });
    await enroll(2, areaToken, proxyOf(3));
    await topology.setSpec(service, NESTED_DEVICES[2], { heartbeat: { periodSeconds: 5 } });
    await topology.waitForDevice(
      service,
      NESTED_DEVICES[2],
      `${NESTED_DEVICES[2]} sending to its parent's broker`,
      (device) =>
        device.status?.nested?.parent === 'Reachable' && device.status.nested.parentBroker !== undefined,
      isStopping,
    );
    for (const n of [4, 3] as const) {
      const name = NESTED_DEVICES[n];
      await topology.waitForDevice(
        service,
        name,
        `${name}'s broker running`,
        topology.brokerRunning,
        isStopping,
      );
      say(
        `level ${n}: ${name} runs its rendered Mosquitto, bridged ${n === 4 ? 'to the hub' : 'to level 4'}`,
      );
    }
    if (stopping) return;
    say('');
    for (const line of (await topology.deviceTable(service)).trimEnd().split('\n')) say(line);
    say('');
    say(
      `OpcUaConnector ${examples.DEMO_CONNECTOR.namespace}/${examples.DEMO_CONNECTOR.name} runs on ${NESTED_DEVICES[2]};`,
    );
    say(`its values go level 2 -> level 3's broker -> level 4's broker -> the hub; waiting for them...`);
    say(`Try: kubectl --kubeconfig ${hub.kubeconfigPath} get devices`);
    say(`Logs: ${logPath}. Press Ctrl-C to stop.`);
    say('');
    const { printValues } = await import('./values.ts');
    if (!stopping) stopValues = printValues(hub.telemetry, say, startedAt);
  } catch (error) {
    if (!stopping) failed(error as Error);
  }
  // Runs until stop() exits the process.
  await new Promise(() => {});

  /** Starts the hub's external broker in the root namespace, on the address level 4 reaches. */
  async function startBroker(address: string): Promise<string> {
    const port = await freePort(address);
    const dir = join(dataDir, 'mosquitto');
    await rm(dir, { recursive: true, force: true });
    await prepareDataDir(dir, 'OUTPOST_DEMO_DIR');
    const config = join(dir, 'mosquitto.conf');
    // Anonymous: it is reached from level 4 only (the hub's own link), as `outpost hub --mqtt` expects a broker to be.
    await writeFile(
      config,
      [
        `listener ${port} ${address}`,
        'allow_anonymous true',
        'persistence false',
        'log_dest stderr',
        '',
      ].join('\n'),
    );
    const broker = spawnChild((options) =>
      startChild('mosquitto', '/usr/sbin/mosquitto', ['-c', config], options),
    );
    const deadline = Date.now() + 30_000;
    while (broker && !stopping && !(await accepts(address, port))) {
      if (Date.now() > deadline) throw new Error(`mosquitto did not listen on ${address}:${port}`);
      await delay(100);
    }
    return `mqtt://${address}:${port}`;
  }
}

/**
 * Removes the namespaces of earlier runs whose demo no longer runs (killed:
 * its Ctrl-C never came), with every process inside. Returns how many.
 */
async function removeStaleNamespaces(): Promise<number> {
  const stale = namespaceNames().filter((name) => {
    const pid = Number(NAMESPACE.exec(name)?.[1] ?? Number.NaN);
    if (!Number.isInteger(pid) || pid === process.pid) return false;
    return !isNestedDemo(pid);
  });
  await removeNamespaces(stale);
  return stale.length;
}

/** Whether `pid` is a running `outpost demo --nested`. */
function isNestedDemo(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('--nested');
  } catch {
    return false;
  }
}

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect(port, host);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
