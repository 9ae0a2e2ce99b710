/**
 * Data upload through the hub (issue 17), as the agent sends it: open a session, PUT the content
 * in chunks of the agent's size (1 MiB) each flushed to disk by the hub, then commit (the hub
 * hashes the whole content and makes the object visible), with the device's certificate.
 *
 * - One large file (UPLOAD_MB, default 128): MB/s through the hub (filesystem backend) against
 *   a bare HTTPS PUT of the same file, in one request, to a bare `node:https` server that streams
 *   it to disk and fsyncs it (same certificates, same machine, same run). Goal: at least 0.8.
 *   Rounds alternate the two.
 * - 10,000 small files (UPLOAD_FILES, 1 KiB each, distinct content, 8 in flight): files per
 *   second and the hub's CPU per file.
 *
 *   npm run bench -- object-upload        (or node --import tsx bench/object-upload.ts)
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent } from 'undici';
import YAML from 'yaml';
import { enroll } from '../src/agent/enrollment/index.ts';
import {
  createToken,
  type HubProcess,
  kubectl,
  kubectlApply,
  placementOf,
  removeDir,
  startHubProcess,
  tempDir,
  waitForPlaced,
} from '../test/support/index.ts';
import {
  type BareServer,
  cpuMeter,
  fmt,
  goalLine,
  hubEnv,
  machineLoad,
  median,
  report,
  startBareServer,
  startProfiling,
  table,
} from './support/index.ts';

const MB = Number(process.env.UPLOAD_MB ?? 128);
const FILES = Number(process.env.UPLOAD_FILES ?? 10_000);
const SMALL_BYTES = 1024;
const CHUNK = Number(process.env.UPLOAD_CHUNK_MB ?? 1) * 1024 * 1024;
const IN_FLIGHT = 8;
const ROUNDS = 3;
const DEVICE = 'bench-uploader';
const NS = 'bench';
const GOAL = 0.8;
/** Time spent in commits (the hub's whole-content hash and the object made visible). */
let commitMs = 0;

interface Device {
  readonly dispatcher: Agent;
  readonly origin: string;
}

async function send(
  device: Device,
  method: string,
  path: string,
  body?: string | Buffer | NodeJS.ReadableStream,
  headers: Record<string, string> = {},
): Promise<Record<string, unknown>> {
  const answer = await device.dispatcher.request({
    origin: device.origin,
    method: method as 'POST',
    path,
    headers: {
      'content-type': typeof body === 'string' ? 'application/json' : 'application/octet-stream',
      ...headers,
    },
    ...(body !== undefined ? { body: body as Buffer } : {}),
  });
  const text = await answer.body.text();
  if (answer.statusCode >= 300) throw new Error(`${method} ${path}: ${answer.statusCode} ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** One file through the protocol: open, chunks of CHUNK bytes read from `file` (or `data`), commit. */
async function upload(
  device: Device,
  path: string,
  size: number,
  sha256: string,
  read: (offset: number, length: number) => Promise<Buffer>,
): Promise<void> {
  const base = `/agent/v1/devices/${DEVICE}/uploads`;
  const opened = await send(
    device,
    'POST',
    base,
    JSON.stringify({ namespace: NS, workload: 'writer', path, size, sha256 }),
  );
  if (opened.state !== 'open') throw new Error(`${path}: ${JSON.stringify(opened)}`);
  let offset = Number(opened.offset);
  while (offset < size) {
    const chunk = await read(offset, Math.min(CHUNK, size - offset));
    const answer = await send(device, 'PUT', `${base}/${opened.id}`, chunk, {
      'upload-offset': String(offset),
    });
    offset = Number(answer.offset);
  }
  const committing = performance.now();
  await send(device, 'POST', `${base}/${opened.id}/commit`);
  commitMs += performance.now() - committing;
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function placeWriter(hub: HubProcess): Promise<void> {
  const created = await kubectl(hub, ['create', 'namespace', NS]);
  if (created.code !== 0) throw new Error(created.stderr);
  await kubectlApply(
    hub,
    {
      apiVersion: 'outpost.dev/v1alpha1',
      kind: 'Workload',
      metadata: { name: 'writer', namespace: NS, labels: { app: 'writer' } },
      spec: {
        uploads: [{ path: '/data' }],
        resources: [
          {
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: { name: 'writer' },
            spec: { containers: [{ name: 'main', image: 'localhost/busybox:latest' }] },
          },
        ],
      },
    },
    placementOf(NS, 'writer', { app: 'writer', site: 'bench' }),
  );
  await waitForPlaced(hub, DEVICE, 'writer');
}

async function main(): Promise<void> {
  // Quota above what the rounds store (each round a new object of MB).
  const hub = await startHubProcess({
    args: ['--object-quota-bytes', String(64 * 1024 ** 3)],
    env: hubEnv(),
  });
  const work = await tempDir('outpost-bench-upload-');
  let bare: BareServer | undefined;
  try {
    const config = YAML.parse(readFileSync(hub.kubeconfig, 'utf8'));
    const ca = Buffer.from(config.clusters[0].cluster['certificate-authority-data'], 'base64').toString(
      'utf8',
    );
    const credentials = await enroll({
      hubUrl: hub.url,
      token: await createToken(hub, ['--labels', 'site=bench']),
      name: DEVICE,
      dataDir: join(work, 'agent'),
      caCert: ca,
    });
    await placeWriter(hub);
    const connect = { ca, cert: credentials.certPem, key: credentials.keyPem };
    const device: Device = {
      origin: hub.url,
      dispatcher: new Agent({ connect, connections: IN_FLIGHT, keepAliveTimeout: 120_000 }),
    };
    const putDir = join(work, 'bare');
    await mkdir(putDir);
    bare = await startBareServer(join(hub.dataDir, 'pki'), { putDir });
    const bareDevice: Device = {
      origin: bare.origin,
      dispatcher: new Agent({ connect, keepAliveTimeout: 120_000 }),
    };

    // The large file, once on disk (the agent reads it from disk too).
    const file = join(work, 'large.bin');
    const size = MB * 1024 * 1024;
    const handle = await open(file, 'w');
    for (let written = 0; written < size; written += 8 * 1024 * 1024)
      await handle.write(randomBytes(Math.min(8 * 1024 * 1024, size - written)));
    await handle.close();
    const reader = await open(file, 'r+');
    const read = async (offset: number, length: number) => {
      const buffer = Buffer.allocUnsafe(length);
      await reader.read(buffer, 0, length, offset);
      return buffer;
    };

    startProfiling(hub);
    const rates: Record<'hub' | 'bare', number[]> = { hub: [], bare: [] };
    const rows: string[][] = [];
    let hubCpuLarge = 0;
    for (let round = 0; round < ROUNDS; round++) {
      // Content of its own each round: the hub would not take content it holds again.
      await reader.write(Buffer.from(`round ${round}`), 0, undefined, 0);
      const sha256 = await sha256Of(file);
      const meter = cpuMeter(hub.process.pid!);
      let started = performance.now();
      await upload(device, `large-${round}.bin`, size, sha256, read);
      let seconds = (performance.now() - started) / 1000;
      hubCpuLarge += meter.stop();
      console.log(`commit ${fmt(commitMs, 0)} ms of ${fmt(seconds * 1000, 0)} ms`);
      commitMs = 0;
      rates.hub.push(MB / seconds);
      rows.push([`${round + 1}`, 'through the hub', fmt(MB / seconds, 1), fmt(seconds, 2)]);
      started = performance.now();
      await send(bareDevice, 'PUT', `/large-${round}.bin`, createReadStream(file));
      seconds = (performance.now() - started) / 1000;
      rates.bare.push(MB / seconds);
      rows.push([`${round + 1}`, 'bare HTTPS PUT', fmt(MB / seconds, 1), fmt(seconds, 2)]);
      await rm(join(putDir, `large-${round}.bin`), { force: true });
    }
    await reader.close();
    const hubRate = median(rates.hub);
    const bareRate = median(rates.bare);
    const ratio = hubRate / bareRate;
    console.log(`one file of ${MB} MiB, ${ROUNDS} rounds alternating (machine load ${machineLoad()}):\n`);
    console.log(table(['round', 'path', 'MiB/s', 'seconds'], rows));
    console.log(
      `\nmedian: hub ${fmt(hubRate, 1)} MiB/s, bare ${fmt(bareRate, 1)} MiB/s, ratio ${fmt(ratio, 2)}; hub CPU ${fmt((hubCpuLarge / (ROUNDS * MB)) * 1000, 1)} ms per MiB`,
    );

    // Small files: distinct content, IN_FLIGHT at once.
    const meter = cpuMeter(hub.process.pid!);
    const started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < FILES) {
          const i = next++;
          const data = randomBytes(SMALL_BYTES);
          const hash = createHash('sha256').update(data).digest('hex');
          await upload(device, `small/${Math.floor(i / 1000)}/${i}.bin`, data.length, hash, async () => data);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const cpu = meter.stop();
    const filesPerSecond = FILES / seconds;
    console.log(
      `\n${FILES} files of ${SMALL_BYTES} bytes, ${IN_FLIGHT} in flight: ${fmt(filesPerSecond, 0)} files/s, hub CPU ${fmt((cpu / FILES) * 1000, 2)} ms per file (3 requests each; machine load ${machineLoad()})`,
    );
    console.log(
      `\n${goalLine(`one large file through the hub >= ${GOAL} x a bare HTTPS PUT (${fmt(ratio, 2)})`, ratio >= GOAL)}`,
    );
    report('object-upload', {
      goalMet: ratio >= GOAL,
      hubMiBps: hubRate,
      bareMiBps: bareRate,
      ratio,
      smallFilesPerSecond: filesPerSecond,
      hubCpuMsPerFile: (cpu / FILES) * 1000,
    });
    await device.dispatcher.close();
    await bareDevice.dispatcher.close();
  } finally {
    await bare?.stop();
    await hub.stop();
    await removeDir(work);
    await removeDir(hub.dataDir);
  }
}

await main();
