/**
 * Nested networks end to end, in real network isolation (root only): the hub
 * in the root namespace, a level-4 gateway, a level-3 gateway and a level-2
 * device each in its own namespace (test/support/levels.ts), each agent
 * started inside it. Level 4 enrolls directly; level 3 and level 2 enroll
 * with tokens naming their parent (`outpost token create --parent`), which
 * carry the parent's proxy: they reach the hub only through the rendered
 * Squid of each level above (run by the gateways' agents as process
 * workloads), admitted by the gateways' declared child networks until their
 * Devices exist. A Workload placed on the level-2 device runs; its
 * decommissioning closes level 3's proxy to it; a child whose parent stops is
 * reported ParentUnreachable.
 *
 * The data plane in the same levels: `outpost plc-sim` at level 2 and an
 * OpcUaConnector placed on the level-2 device; its values cross level 3's
 * and level 4's rendered Mosquitto to the hub's MQTT-over-TLS listener
 * (`--mqtt-tls-port`), a command comes back down with its ack, level 3's
 * link is cut for 60 s and every value (by the connector's `seq`) arrives
 * once it returns, in order; the decommissioned device's MQTT client is
 * dropped by level 3's broker.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type AgentProcess,
  type ApiClient,
  apiClient,
  canBuildLevels,
  createLevels,
  createToken,
  currentStatus,
  getMailbox,
  type HubMessage,
  type HubProcess,
  kubeconfigCredentials,
  kubectl,
  type LevelNumber,
  type Levels,
  observeHub,
  recordedProcesses,
  removeConnectorPki,
  removeDir,
  type StartedProcess,
  startAgent,
  startHubProcess,
  startPlcSim,
  tempDir,
  waitFor,
} from '../support/index.ts';

const DEVICES = '/apis/outpost.dev/v1alpha1/devices';
const NAMES: Record<LevelNumber, string> = { 4: 'enterprise-l4', 3: 'site-l3', 2: 'area-l2' };
/** Each gateway's proxy port: every level is its own namespace, so the defaults never collide. */
const PROXY_PORT = 3128;
/** Each gateway's broker port (the default), likewise. */
const BROKER_PORT = 1883;
const CONNECTOR_NS = 'packaging';
const CONNECTOR = 'filler';
/** How long level 3 is cut off (the issue's 60 s). */
const CUT_MS = 60_000;

/**
 * A script run with node inside level 2: an MQTT client with the certificate in DIR
 * (ca.crt, tls.crt, tls.key) on `url`, which subscribes to `filter` and writes to
 * DIR/probe.log `connected`, `suback <codes>`, `closed <epoch ms>` or `error <message>` as
 * they happen; it ends once closed.
 */
const probeScript = (dir: string, url: string, filter: string, forgedTopic: string) =>
  `const mqtt=require('mqtt');const fs=require('node:fs');const f=(n)=>fs.readFileSync(${JSON.stringify(dir)}+'/'+n,'utf8');` +
  `const log=(l)=>fs.appendFileSync(${JSON.stringify(`${dir}/probe.log`)},l+'\\n');` +
  `const c=mqtt.connect(${JSON.stringify(url)},{ca:f('ca.crt'),cert:f('tls.crt'),key:f('tls.key'),clientId:'probe-'+process.pid,protocolVersion:4,reconnectPeriod:0,connectTimeout:10000});` +
  `c.on('connect',()=>{log('connected');c.subscribe(${JSON.stringify(filter)},{qos:1},(e,g)=>{log('suback '+(g||e&&e.packet&&e.packet.granted||[]).map((x)=>typeof x==='number'?x:x.qos).join(','));` +
  // A value for the device's connector, which must never reach the hub once it is decommissioned.
  `c.publish(${JSON.stringify(forgedTopic)},JSON.stringify({value:-1,seq:-1}),{qos:1},(e)=>log(e?'error '+e.message:'puback'))})});` +
  `c.on('error',(e)=>log('error '+e.message));c.on('close',()=>{log('closed '+Date.now());process.exit(0)});` +
  'setTimeout(()=>process.exit(0),120000);';

describe('three levels in network namespaces reach the hub only through their parents', {
  skip: !canBuildLevels() && 'needs root and ip netns',
  timeout: 600_000,
}, () => {
  let levels: Levels;
  let hub: HubProcess;
  let api: ApiClient;
  const agents = new Map<LevelNumber, AgentProcess>();
  const dataDirs = new Map<LevelNumber, string>();
  const scratch: string[] = [];
  let sim: (StartedProcess & { readonly ready: string }) | undefined;
  /** When level 3's link came back after the cut (0: not cut). */
  let linkReturnedAt = 0;
  let simStarting: Promise<StartedProcess & { readonly ready: string }> | undefined;
  /** Every value of the connector the hub's broker saw, in arrival order. */
  let observer: { messages: HubMessage[]; close(): Promise<void> } | undefined;
  const values = () =>
    (observer?.messages ?? []).filter(
      (m) => m.topic.includes('/telemetry/') && typeof m.body.seq === 'number',
    );
  const connectorPath = `/apis/outpost.dev/v1alpha1/namespaces/${CONNECTOR_NS}/opcuaconnectors/${CONNECTOR}`;

  const device = async (name: string) => (await api.request('GET', `${DEVICES}/${name}`)).json();
  const patch = async (path: string, body: unknown) => {
    const answer = await api.request('PATCH', path, { body, contentType: 'application/merge-patch+json' });
    assert.equal(answer.status, 200, answer.text);
  };
  /** What the gateway's Mailbox and its workloads' output say, for a failure's message. */
  const diagnosis = async (level: LevelNumber) => {
    const mailbox = await getMailbox(api, NAMES[level]);
    const logs = recordedProcesses(dataDirs.get(level)!).map(({ logPath }) => {
      try {
        return readFileSync(logPath, 'utf8').slice(-1500);
      } catch {
        return '';
      }
    });
    return `${NAMES[level]}'s Mailbox status: ${JSON.stringify(mailbox?.status)}; agent: ${agents.get(level)?.stderr().slice(-3000)}; workloads: ${logs.join('\n---\n')}`;
  };
  const start = async (level: LevelNumber, token: string) => {
    const dataDir = await tempDir(`outpost-level${level}-`);
    dataDirs.set(level, dataDir);
    agents.set(
      level,
      await startAgent({
        hubUrl: hub.url,
        token,
        dataDir,
        name: NAMES[level],
        netns: levels.levels[level].netns,
        args: ['--stop-workloads-on-exit'],
      }),
    );
  };
  /** The HTTP status level 2 gets from level 3's proxy for `target`, waiting out a restart of Squid (a new configuration). */
  const askLevel3 = (target: string) =>
    waitFor(`an answer from level 3's proxy for ${target}`, async () => {
      const answer = await levels.proxyConnect(2, `${levels.levels[3].downAddress}:${PROXY_PORT}`, target);
      return /^\d{3}$/.test(answer) ? answer : undefined;
    });
  /** Declares the device a gateway of the level below, and waits for its proxy to run. */
  const becomeGateway = async (level: 4 | 3) => {
    const below = levels.levels[(level - 1) as LevelNumber];
    await patch(`${DEVICES}/${NAMES[level]}`, {
      spec: {
        level,
        // Short heartbeats: a stopped gateway is seen Unreachable in seconds.
        heartbeat: { periodSeconds: 2 },
        gateway: {
          address: levels.levels[level].downAddress,
          proxyPort: PROXY_PORT,
          childNetworks: [below.network],
        },
      },
    });
    await waitFor(
      `${NAMES[level]}'s proxy running`,
      async () => (await device(NAMES[level])).status?.nested?.proxy?.ready === true,
      180_000,
    ).catch(async (error: Error) => {
      throw new Error(`${error.message}; ${await diagnosis(level)}`);
    });
  };

  before(async () => {
    levels = await createLevels();
    // Level 4's broker bridges to the hub's own broker over TLS, on the address level 4 reaches.
    hub = await startHubProcess({ args: ['--listen', `${levels.hubAddress}:0`, '--mqtt-tls-port', '0'] });
    api = apiClient(hub.kubeconfig);
    // The PLC is at level 2, next to its device (on level 2's loopback); node-opcua takes its time
    // to start on a loaded machine: meanwhile the levels enroll.
    const simPki = await tempDir('outpost-nested-sim-');
    scratch.push(simPki);
    simStarting = startPlcSim(
      ['--host', '127.0.0.1', '--port', '0', '--interval', '250ms', '--pki-dir', simPki],
      { netns: levels.levels[2].netns, readyTimeoutMs: 300_000 },
    );
    // Awaited by the test that uses it; a failure meanwhile is not unhandled.
    simStarting.catch(() => {});
  });

  after(async () => {
    for (const agent of agents.values()) await agent.stop().catch(() => {});
    // Whatever still runs inside (the gateways' Squid and Mosquitto, workloads) goes with the namespaces.
    await levels?.remove();
    await api?.close();
    await hub?.stop();
    await (sim ?? (await simStarting?.catch(() => undefined)))?.stop().catch(() => {});
    await observer?.close().catch(() => {});
    for (const dir of dataDirs.values()) await removeDir(dir);
    for (const dir of scratch) await removeDir(dir);
    if (hub) await removeDir(hub.dataDir);
    await removeConnectorPki(CONNECTOR_NS, CONNECTOR);
  });

  it('enrolls level 4 directly and runs its proxy for level 3', async () => {
    await start(4, await createToken(hub));
    await becomeGateway(4);
  });

  it("enrolls level 3 through level 4's proxy with a token naming its parent", async () => {
    assert.equal(
      await levels.reach(3, levels.hubAddress, Number(new URL(hub.url).port)),
      'ENETUNREACH',
      'level 3 has no route to the hub',
    );
    const token = await createToken(hub, ['--parent', NAMES[4]]);
    await start(3, token);
    const site = await device(NAMES[3]);
    assert.equal(site.spec.parent, NAMES[4]);
    assert.equal(site.spec.level, 3, "one below the parent's, from the token");
    await becomeGateway(3);
  });

  it('enrolls level 2 through two proxies; its direct route to the hub fails and the proxied one works', async () => {
    const hubTarget = new URL(hub.url).host;
    assert.equal(await levels.reach(2, levels.hubAddress, Number(new URL(hub.url).port)), 'ENETUNREACH');
    const token = await createToken(hub, ['--parent', NAMES[3]]);
    await start(2, token);
    const area = await waitFor('level 2 heartbeating through its parents', async () => {
      const object = await device(NAMES[2]);
      return object.status?.system?.addresses?.includes(levels.levels[2].address) &&
        object.status?.nested?.parent === 'Reachable'
        ? object
        : undefined;
    });
    assert.equal(area.spec.parent, NAMES[3]);
    // The agent keeps the proxy its token carried, for every later start.
    assert.equal(
      readFileSync(join(dataDirs.get(2)!, 'hub-proxy'), 'utf8').trim(),
      `http://${levels.levels[3].downAddress}:${PROXY_PORT}`,
    );
    assert.equal(area.status.nested.hubProxy, `http://${levels.levels[3].downAddress}:${PROXY_PORT}`);
    assert.equal(await askLevel3(hubTarget), '200');
    // Through the proxy, the hub only: anything else is refused at level 3.
    assert.equal(await askLevel3(`${levels.hubAddress}:22`), '403');
    const l3 = (await device(NAMES[3])).status.nested;
    assert.deepEqual(l3.children, [NAMES[2]]);
    assert.deepEqual((await device(NAMES[4])).status.nested.children, [NAMES[3]]);
    const table = await kubectl(hub, ['get', 'devices']);
    assert.match(table.stdout, new RegExp(`${NAMES[2]}\\s.*${NAMES[3]}\\s+2\\b`), table.stdout);
  });

  it('runs a Workload placed on the level-2 device', async () => {
    await patch(`${DEVICES}/${NAMES[2]}`, { metadata: { labels: { area: 'packaging' } } });
    const manifest = {
      apiVersion: 'outpost.dev/v1alpha1',
      kind: 'Workload',
      metadata: { name: 'line-monitor', namespace: 'default' },
      spec: {
        resources: [
          {
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            metadata: { name: 'line-monitor' },
            spec: {
              replicas: 1,
              selector: { matchLabels: { app: 'line-monitor' } },
              template: {
                metadata: { labels: { app: 'line-monitor' } },
                spec: {
                  containers: [
                    {
                      name: 'monitor',
                      image: 'docker.io/library/debian:bookworm',
                      command: ['/bin/sleep', '3600'],
                    },
                  ],
                },
              },
            },
          },
        ],
      },
    };
    const placed = {
      apiVersion: 'outpost.dev/v1alpha1',
      kind: 'Placement',
      metadata: { name: 'line-monitor', namespace: 'default' },
      spec: {
        workloadSelector: { names: ['line-monitor'] },
        deviceSelector: { matchLabels: { area: 'packaging' } },
      },
    };
    for (const [path, body] of [
      ['/apis/outpost.dev/v1alpha1/namespaces/default/workloads', manifest],
      ['/apis/outpost.dev/v1alpha1/namespaces/default/placements', placed],
    ] as const) {
      const created = await api.request('POST', path, { body });
      assert.equal(created.status, 201, created.text);
    }
    const status = await waitFor(
      'the Workload Running on level 2',
      async () => {
        const running = currentStatus(await getMailbox(api, NAMES[2]), 'Deployment', 'line-monitor');
        return running?.phase === 'Running' ? running : undefined;
      },
      120_000,
    ).catch(async (error: Error) => {
      throw new Error(`${error.message}; ${await diagnosis(2)}`);
    });
    assert.equal(status.phase, 'Running');
    const table = await kubectl(hub, ['get', 'workloads', '-n', 'default']);
    assert.match(table.stdout, /line-monitor/, table.stdout);
  });

  it('brings OPC UA values from level 2 through two bridges to the hub, and a command down with its ack', async () => {
    for (const level of [4, 3] as const)
      await waitFor(
        `${NAMES[level]}'s broker running`,
        async () => (await device(NAMES[level])).status?.nested?.broker?.ready === true,
        180_000,
      ).catch(async (error: Error) => {
        throw new Error(`${error.message}; ${await diagnosis(level)}`);
      });
    sim = await simStarting!;
    observer = await observeHub(hub, [`devices/${NAMES[2]}/telemetry/${CONNECTOR_NS}/${CONNECTOR}/#`]);
    const ns = await api.request('POST', '/api/v1/namespaces', {
      body: { metadata: { name: CONNECTOR_NS } },
    });
    assert.equal(ns.status, 201, ns.text);
    const created = await api.request(
      'POST',
      `/apis/outpost.dev/v1alpha1/namespaces/${CONNECTOR_NS}/opcuaconnectors`,
      {
        body: {
          apiVersion: 'outpost.dev/v1alpha1',
          kind: 'OpcUaConnector',
          metadata: { name: CONNECTOR },
          spec: {
            server: sim.ready,
            defaults: { samplingInterval: '250ms', publishingInterval: '250ms' },
            subscriptions: { temperature: 'ns=2;s=Temperature', setpoint: 'ns=2;s=TemperatureSetpoint' },
            devices: { matchLabels: { area: 'packaging' } },
          },
        },
      },
    );
    assert.equal(created.status, 201, created.text);
    const items = await waitFor(
      "the level-2 connector's values in the hub's table",
      async () => {
        const answer = await api.request('GET', `${connectorPath}/telemetry?device=${NAMES[2]}`);
        const found = (answer.json().items ?? []) as Array<{ feature: string; value: unknown }>;
        return found.some((item) => item.feature === 'temperature') ? found : undefined;
      },
      180_000,
    ).catch(async (error: Error) => {
      throw new Error(`${error.message}; ${await diagnosis(2)}; level 4: ${await diagnosis(4)}`);
    });
    assert.ok(Math.abs(Number(items.find((i) => i.feature === 'temperature')!.value) - 20) < 5);
    // Down both bridges to the PLC, and the connector's ack back up (the command waits 10 s for it).
    const sent = await waitFor('the command acknowledged', async () => {
      const answer = await api.request('POST', `${connectorPath}/commands`, {
        body: { feature: 'setpoint', value: 23.5, device: NAMES[2] },
      });
      return answer.status === 200 ? answer.json() : undefined;
    });
    assert.equal(sent.statusCode, 'Good');
    await waitFor('the new set point read back through the bridges', async () => {
      const answer = await api.request('GET', `${connectorPath}/telemetry?device=${NAMES[2]}`);
      const found = (answer.json().items ?? []) as Array<{ feature: string; value: unknown }>;
      return found.some((item) => item.feature === 'setpoint' && item.value === 23.5);
    });
  });

  it("keeps level 2's values while level 3 is cut off for 60 s, and delivers every one in order when it returns", async () => {
    await waitFor('values arriving', () => values().length >= 5);
    await levels.setUplink(3, false);
    // What was in flight when the link went down may still land: count from a moment later.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const before = values().length;
    const lastBefore = Math.max(...values().map((m) => m.body.seq!));
    await new Promise((resolve) => setTimeout(resolve, CUT_MS - 3000));
    const duringCut = values().length - before;
    await levels.setUplink(3, true);
    console.log(`# ${duringCut} values reached the hub while level 3 was cut off for ${CUT_MS / 1000} s`);
    assert.equal(duringCut, 0, 'nothing crosses a cut link');
    // The connector publishes ~8 values a second: a minute's worth queued at level 3 arrives.
    const returned = performance.now();
    await waitFor(
      'the values queued at level 3 at the hub',
      () => Math.max(...values().map((m) => m.body.seq!)) >= lastBefore + (CUT_MS / 1000) * 4,
      240_000,
    ).catch(async (error: Error) => {
      throw new Error(
        `${error.message}; highest seq ${Math.max(...values().map((m) => m.body.seq!))}, before ${lastBefore}; ${await diagnosis(3)}`,
      );
    });
    linkReturnedAt = Date.now();
    console.log(
      `# the queued values arrived ${((performance.now() - returned) / 1000).toFixed(1)} s after the link returned`,
    );
    // Nothing lost, nothing out of order: first arrivals of seq are consecutive (at least once: repeats allowed).
    const firsts: number[] = [];
    const seen = new Set<number>();
    for (const { body } of values())
      if (!seen.has(body.seq!)) {
        seen.add(body.seq!);
        firsts.push(body.seq!);
      }
    const start = firsts[0]!;
    assert.deepEqual(
      firsts,
      Array.from({ length: firsts.length }, (_, i) => start + i),
      'every seq from the first seen to the last, once each, in order',
    );
    console.log(
      `# seq ${start}..${firsts.at(-1)}: ${firsts.length} values, ${values().length - firsts.length} repeats`,
    );
  });

  it("closes level 3's proxy to the level-2 device once it is decommissioned", async () => {
    // Level 3's agent must be back after the cut to follow the re-rendered Mailbox this test is about
    // (it once never came back: its queued heartbeats told the hub it had lost its uplink address).
    await waitFor(
      "level 3's heartbeat since the cut",
      async () => Date.parse((await device(NAMES[3])).status?.lastHeartbeatTime ?? '') > linkReturnedAt,
      120_000,
    ).catch(async (error: Error) => {
      const reported = (await device(NAMES[3])).status?.system?.addresses;
      throw new Error(`${error.message}; level 3 reports ${JSON.stringify(reported)}; ${await diagnosis(3)}`);
    });
    const proxy = `${levels.levels[3].downAddress}:${PROXY_PORT}`;
    const hubTarget = new URL(hub.url).host;
    // An MQTT client with the level-2 device's certificate on level 3's broker, inside level 2.
    const probeDir = await tempDir('outpost-nested-probe-');
    scratch.push(probeDir);
    const credentials = await kubeconfigCredentials(join(dataDirs.get(2)!, 'kubeconfig'));
    writeFileSync(join(probeDir, 'ca.crt'), credentials.ca);
    writeFileSync(join(probeDir, 'tls.crt'), credentials.cert);
    writeFileSync(join(probeDir, 'tls.key'), credentials.key);
    const brokerUrl = `mqtts://${levels.levels[3].downAddress}:${BROKER_PORT}`;
    const probeLog = () => {
      try {
        return readFileSync(join(probeDir, 'probe.log'), 'utf8');
      } catch {
        return '';
      }
    };
    const filter = `devices/${NAMES[2]}/commands/#`;
    const forged = `devices/${NAMES[2]}/telemetry/${CONNECTOR_NS}/${CONNECTOR}/forged`;
    const probing = levels.exec(2, process.execPath, [
      '-e',
      probeScript(probeDir, brokerUrl, filter, forged),
    ]);
    await waitFor("the probe on level 3's broker", () => /^suback 1$/m.test(probeLog()), 60_000).catch(
      async (error: Error) => {
        throw new Error(
          `${error.message}; probe: ${probeLog()} ${(await Promise.race([probing, Promise.resolve(undefined)]))?.stderr ?? ''}`,
        );
      },
    );
    // The agent would answer its decommissioning by forgetting its credentials: stop it first.
    await agents.get(2)!.stop();
    const started = performance.now();
    const deletedAt = Date.now();
    const deleted = await api.request('DELETE', `${DEVICES}/${NAMES[2]}`);
    assert.equal(deleted.status, 200, deleted.text);
    // The proxy is watched from the deletion on, beside the broker checks below, so that its time is its own.
    const proxyRefused = waitFor(
      "level 3's proxy refusing the decommissioned device",
      async () => (await levels.proxyConnect(2, proxy, hubTarget)) === '403',
      60_000,
      100,
    ).then(() => (performance.now() - started) / 1000);
    proxyRefused.catch(() => {}); // awaited below: a failure is reported there, not as unhandled
    const closedAt = Number(
      (
        await waitFor(
          "level 3's broker dropping the probe",
          () => /^closed (\d+)$/m.exec(probeLog()) ?? undefined,
          60_000,
        )
      )[1],
    );
    await probing;
    console.log(
      `# level 3's broker dropped the decommissioned level-2 device's MQTT client ${((closedAt - deletedAt) / 1000).toFixed(1)} s after its deletion`,
    );
    assert.ok(closedAt - deletedAt < 30_000);
    // Connecting again: Mosquitto takes any certificate of the hub CA (no revocation list; the hub's
    // own listener refuses it, telemetry-mqtts.test.ts), but its re-rendered ACL no longer names the
    // device and its bridge no longer carries it: what it publishes reaches nobody.
    writeFileSync(join(probeDir, 'probe.log'), '');
    const again = levels.exec(2, process.execPath, ['-e', probeScript(probeDir, brokerUrl, filter, forged)]);
    await waitFor('the second probe answered', () => /^(puback|error .*)$/m.test(probeLog()), 60_000);
    console.log(
      `# the decommissioned device's client on level 3's broker again: ${probeLog().trim().split('\n').join('; ')}`,
    );
    await Promise.race([again, new Promise((resolve) => setTimeout(resolve, 1000))]);
    // The first probe's value (sent while the device was live) may have crossed; this one never does.
    await new Promise((resolve) => setTimeout(resolve, 5000));
    const forgedSeen = (observer?.messages ?? []).filter((m) => m.topic === forged).length;
    assert.ok(forgedSeen <= 1, `${forgedSeen} forged values at the hub`);
    const seconds = await proxyRefused;
    console.log(
      `# level 3's proxy refused the decommissioned level-2 device ${seconds.toFixed(1)} s after its deletion`,
    );
    // Refused although its address is inside level 3's declared child network.
    assert.match((await device(NAMES[3])).spec.gateway.childNetworks[0], /\/30$/);
  });

  it('reports a child whose parent is down as ParentUnreachable', async () => {
    await agents.get(4)!.stop();
    const nested = await waitFor(
      'level 3 reported ParentUnreachable',
      async () => {
        const state = (await device(NAMES[3])).status?.nested;
        return state?.parent === 'ParentUnreachable' ? state : undefined;
      },
      120_000,
    );
    assert.equal(nested.parent, 'ParentUnreachable');
  });
});
