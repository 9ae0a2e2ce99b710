/**
 * The hub at fleet scale: N simulated agents (`bench/fleet/`) in this
 * process, each with its own key, certificate and one mTLS HTTP/2 connection, speaking
 * the agent's protocol to one `outpost hub` process: enrollment, a watch on
 * its own Mailbox, heartbeats (merge PATCH of the Device status) every 15 s,
 * the log-requests long poll.
 *
 * 1. Heartbeats: N devices connected; heartbeat p50/p99 over a window, hub
 *    resident memory per connected device (connected minus idle, over N).
 * 2. Fan-out: one Placement change until every agent's watch delivered its
 *    Mailbox event.
 * 3. Reconnect storms: every device's connection dropped at once, twice,
 *    against the same hub process; every agent back (its own backoff), the
 *    hub's RSS before, once all are back and one heartbeat period later.
 * 4. Reconnect: the hub stopped and started again on the same data dir and
 *    port; every agent back (watch re-established), retrying with the
 *    agent's capped exponential backoff with jitter; reconnects per second.
 *
 * Baseline in the same run: the same fleet against a bare `node:http2`
 * server with the hub's certificates (mTLS) that answers the same requests
 * (a watch stream per device with bookmarks, the heartbeat PATCH echoed,
 * a fan-out of an event line of the Mailbox's size, restart on the same port).
 * The hub's and the simulator's CPU time are printed separately.
 *
 *   npm run bench -- fleet-scale                     2,000 devices, a 30 s window (about 3 min)
 *   npm run bench -- fleet-scale --devices 20000 --seconds 60
 *
 * Options: `--devices N`, `--seconds S` (heartbeat window), `--concurrency C`
 * (devices connecting at once), `--no-baseline`. Keys and CSRs are cached in
 * the temp dir across runs (`bench/fleet/enroll.ts`); devices enroll once per
 * run and the credentials are reused for the hub restart and the baseline.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { removeDir, tempDir } from '../test/support/index.ts';
import { createToken, deviceKeys, enrollFleet } from './fleet/enroll.ts';
import { Fleet } from './fleet/fleet.ts';
import {
  AdminApi,
  changePlacement,
  oneMailbox,
  placeOnEveryDevice,
  waitForMailboxes,
} from './fleet/hub-setup.ts';
import { fanout, reconnect, steady, storms, withCpu } from './fleet/phases.ts';
import { report as printReport } from './fleet/report.ts';
import { raiseFdLimit, rssBytes, type ServerProcess, startBare, startHub } from './fleet/servers.ts';
import { credentialsOf, fmt, machineLoad, startProfiling } from './support/index.ts';

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '2000' },
    seconds: { type: 'string', default: '30' },
    concurrency: { type: 'string', default: '64' },
    'no-baseline': { type: 'boolean', default: false },
  },
});
const N = Number(values.devices);
const WINDOW_MS = Number(values.seconds) * 1000;
const CONCURRENCY = Number(values.concurrency);
const PERIOD_MS = 15_000;
/** Two storms, to tell memory a storm leaves behind from the server's warm-up. */
const STORM_OPTIONS = { storms: 2, periodMs: PERIOD_MS, timeoutMs: 180_000 + N * 20 };

// One connection per device in the simulator and in the hub, plus room.
const limit = raiseFdLimit(N + 4096);
if (limit < N + 256)
  throw new Error(`open-files limit ${limit} is too low for ${N} devices: raise ulimit -n`);

const dataDir = await tempDir('outpost-bench-fleet-');
let hub: ServerProcess | undefined;
let bare: ServerProcess | undefined;
let fleet: Fleet | undefined;
try {
  console.log(
    `fleet-scale: ${N} simulated agents in this process (one mTLS HTTP/2 connection each), one hub process; open-files limit ${limit}`,
  );
  console.log(machineLoad());
  const keys = await deviceKeys(N);
  console.log(
    `keys+CSRs: ${keys.made} made (${fmt(keys.made > 0 ? keys.cpuMs / keys.made : 0, 2)} ms CPU each), ${N - keys.made} from the cache`,
  );

  // Enroll once, on a first hub process.
  hub = await startHub(dataDir, 0);
  const admin = credentialsOf(join(dataDir, 'admin.kubeconfig'));
  let api = new AdminApi(admin);
  const token = await createToken(admin);
  const enrolled = await withCpu(
    () => hub!.process.pid!,
    () => enrollFleet(admin.origin, admin.ca, token, keys.keys),
  );
  const identities = enrolled.result;
  console.log(
    `enrolled ${N} devices in ${fmt(enrolled.cpu.seconds, 1)} s (${fmt(N / enrolled.cpu.seconds)}/s; hub CPU ${fmt(enrolled.cpu.server, 1)} s, simulator ${fmt(enrolled.cpu.simulator, 1)} s)`,
  );
  await placeOnEveryDevice(api);
  await waitForMailboxes(api, N, 60_000 + N * 10);
  const mailbox = await oneMailbox(api, identities[0]!.name);
  await api.close();
  await hub.stop();

  // The hub again on the same data: idle with N Devices and Mailboxes, then the fleet connects.
  hub = await startHub(dataDir, 0);
  const port = hub.port;
  api = new AdminApi(admin, hub.origin);
  await new Promise((resolve) => setTimeout(resolve, 5000));
  startProfiling(hub);
  fleet = new Fleet(identities, admin.ca, hub.origin);
  const connectTimeoutMs = 120_000 + N * 20;
  const hubSteady = await steady(fleet, hub, {
    concurrency: CONCURRENCY,
    periodMs: PERIOD_MS,
    windowMs: WINDOW_MS,
    connectTimeoutMs,
  });
  const marker = `changed-${Date.now()}`;
  const hubFanout = await fanout(fleet, hub, marker, () => changePlacement(api, marker), 300_000);
  await api.close();
  const hubStorms = await storms(fleet, hub, STORM_OPTIONS);
  const hubPid = () => hub!.process.pid!;
  const restarted = await reconnect(
    fleet,
    hub,
    () => startHub(dataDir, port, { profileFromStart: true }),
    180_000,
  );
  hub = restarted.server;
  const hubRestartRss = rssBytes(hubPid());
  await fleet.stop();
  fleet = undefined;
  await hub.stop();
  hub = undefined;

  let baseline: Parameters<typeof printReport>[0]['baseline'];
  if (!values['no-baseline']) {
    const mailboxFile = join(dataDir, 'bench-mailbox.json');
    await writeFile(mailboxFile, mailbox);
    const pki = join(dataDir, 'pki');
    bare = await startBare(pki, mailboxFile, 0);
    const barePort = bare.port;
    await new Promise((resolve) => setTimeout(resolve, 2000));
    fleet = new Fleet(identities, admin.ca, bare.origin);
    const bareSteady = await steady(fleet, bare, {
      concurrency: CONCURRENCY,
      periodMs: PERIOD_MS,
      windowMs: WINDOW_MS,
      connectTimeoutMs,
    });
    const bareMarker = `changed-${Date.now()}`;
    const event = `{"type":"MODIFIED","object":${mailbox.replace('"normal"', JSON.stringify(bareMarker))}}\n`;
    const bareApi = new AdminApi(admin, bare.origin);
    const bareFanout = await fanout(
      fleet,
      bare,
      bareMarker,
      async () => {
        await bareApi.send('POST', '/_bench/fanout', event);
      },
      120_000,
    );
    await bareApi.close();
    const bareStorms = await storms(fleet, bare, STORM_OPTIONS);
    const bareRestart = await reconnect(fleet, bare, () => startBare(pki, mailboxFile, barePort), 180_000);
    bare = bareRestart.server;
    baseline = {
      steady: bareSteady,
      fanout: bareFanout,
      storms: bareStorms,
      reconnect: bareRestart.result,
    };
  }

  printReport({
    devices: N,
    windowSeconds: WINDOW_MS / 1000,
    hub: {
      steady: hubSteady,
      fanout: hubFanout,
      storms: hubStorms,
      reconnect: restarted.result,
      restartRss: hubRestartRss,
    },
    baseline,
    mailboxBytes: mailbox.length,
  });
} finally {
  await fleet?.stop();
  await hub?.stop();
  await bare?.stop();
  await removeDir(dataDir);
}
