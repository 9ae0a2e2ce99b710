/**
 * Data upload end to end, over each backend (the hub's filesystem and s3rver as `--objects s3://`):
 * an `outpost hub` process and an `outpost agent` (process runtime) that reaches the hub through a
 * TCP proxy the test counts and cuts. A workload writes files into its upload directory: they
 * arrive (read back with `outpost objects`), a 50 MB one across 10 cut connections with everything
 * the agent sent at most 1.25 times its size, a file survives the agent's SIGKILL mid-upload (resumed,
 * not sent again), and a file past the device's quota stays queued with the quota named in Device
 * status. On the filesystem backend also: identical content is stored once, a symlink out of the
 * directory is refused, a device cannot open an upload under another device's prefix, a wrong hash
 * is refused, and a team reads only its own namespace's objects. The two backends run side by side.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, readdirSync, readFileSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadCredentials } from '../../src/agent/enrollment/index.ts';
import {
  type AgentProcess,
  type ApiClient,
  apiClient,
  bindWorkloadTeam,
  createToken,
  createUser,
  type HubProcess,
  hubRequest,
  kubectl,
  kubectlApply,
  OUTPOST_BIN,
  placementOf,
  removeDir,
  run,
  type S3rverInstance,
  startAgent,
  startHubProcess,
  startS3rver,
  tempDir,
  waitFor,
} from '../support/index.ts';

const DIR = '/srv/outpost-upload-e2e';
const MiB = 1024 * 1024;
/** Written by the workload; the connection is cut 10 times while it goes up. */
const BIG = 50 * MiB;
/** Written beside it later; the agent is SIGKILLed while it goes up. */
const KILLED = 12 * MiB;
/** Each device's quota: the files above fit, one more of {@link OVER} does not. */
const QUOTA = 64 * MiB;
const OVER = 3 * MiB;
/** The upload's bandwidth limit: slow enough to cut the connection many times during one file. */
const RATE = 3 * MiB;

/** A TCP proxy that counts the bytes the agent sends and can cut every connection. */
class CountingProxy {
  sent = 0;
  readonly #sockets = new Set<Socket>();
  readonly #server: Server;
  constructor(port: number) {
    this.#server = createServer((client) => {
      const upstream = connect(port, '127.0.0.1');
      client.on('data', (chunk: Buffer) => {
        this.sent += chunk.length;
      });
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('error', () => {});
        s.on('close', () => {
          this.#sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
  }
  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `https://127.0.0.1:${(this.#server.address() as { port: number }).port}`;
  }
  cut(): void {
    for (const s of this.#sockets) s.destroy();
  }
  close(): Promise<void> {
    this.cut();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

function writer(ns: string) {
  return {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Workload',
    metadata: { name: 'writer', namespace: ns, labels: { app: 'writer' } },
    spec: {
      uploads: [{ path: DIR, maxBandwidth: RATE }],
      resources: [
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'writer' },
          spec: {
            terminationGracePeriodSeconds: 1,
            containers: [
              {
                name: 'main',
                image: 'localhost/busybox:latest',
                command: [
                  'sh',
                  '-c',
                  `cd ${DIR} && printf same > a.txt && printf same > b.txt && mkdir -p day && printf 1,2 > day/c.csv && ln -s /etc/passwd escape && head -c ${BIG} /dev/urandom > big.tmp && mv big.tmp big.bin; exec sleep 3600`,
                ],
              },
            ],
          },
        },
      ],
    },
  };
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

interface UploadStatus {
  queuedFiles?: number;
  queuedBytes?: number;
  uploadedBytes?: number;
  uploadedFiles?: number;
  lastUploadTime?: string;
  lastError?: string;
}

function uploadFlows(backend: 'fs' | 's3'): void {
  const NS = `upload-${backend}`;
  const DEVICE = `gw-up-${backend}`;

  describe(`over the ${backend} backend`, { concurrency: 1 }, () => {
    let hub: HubProcess;
    let agent: AgentProcess;
    let api: ApiClient;
    let proxy: CountingProxy;
    let s3: S3rverInstance | undefined;
    let dataDir: string;
    let proxyUrl: string;
    /** The workload's upload directory on the host. */
    let uploadDir: string;
    const objects = (args: string[], kubeconfig = hub.kubeconfig) =>
      run(process.execPath, [OUTPOST_BIN, 'objects', ...args, '-n', NS, '--kubeconfig', kubeconfig], {
        timeoutMs: 60_000,
      });
    const listed = async (path: string) => (await objects(['ls', `${DEVICE}/${path}`])).stdout.includes(path);
    const uploadStatus = async () =>
      (
        (await api.request('GET', `/apis/outpost.dev/v1alpha1/devices/${DEVICE}`)).json() as {
          status?: { uploads?: UploadStatus };
        }
      ).status?.uploads;

    before(async () => {
      const args = ['--object-quota-bytes', String(QUOTA)];
      if (backend === 's3') {
        s3 = await startS3rver();
        args.push('--objects', s3.objectsUrl('e2e'));
      }
      hub = await startHubProcess({ args, ...(s3 ? { env: s3.env } : {}) });
      api = apiClient(hub.kubeconfig);
      // Before the agent starts: every byte it sends is counted.
      proxy = new CountingProxy(Number(new URL(hub.url).port));
      proxyUrl = await proxy.listen();
      dataDir = await tempDir(`outpost-agent-upload-${backend}-`);
      const token = await createToken(hub, ['--labels', `site=upload-${backend}`]);
      agent = await startAgent({
        hubUrl: proxyUrl,
        token,
        dataDir,
        name: DEVICE,
        args: ['--stop-workloads-on-exit'],
      });
      assert.equal((await kubectl(hub, ['create', 'namespace', NS])).code, 0);
      await kubectlApply(
        hub,
        writer(NS),
        placementOf(NS, 'writers', { app: 'writer', site: `upload-${backend}` }),
      );
    });

    after(async () => {
      await agent?.stop();
      await proxy?.close();
      await api?.close();
      await hub?.stop();
      await s3?.close();
      if (dataDir) await removeDir(dataDir);
      if (dataDir) await removeDir(`${dataDir}.uploads`);
      if (hub) await removeDir(hub.dataDir);
    });

    it('uploads a 50 MB file across 10 cut connections, sending at most 1.25 times its size', async (t) => {
      // The small files go first (smallest first); then each cut waits for 4 MiB more of the large one.
      let mark = MiB;
      let lastCut = 0;
      for (let cut = 1; cut <= 10; cut++) {
        await waitFor(`the upload past ${mark} bytes before cut ${cut}`, () => proxy.sent >= mark, 180_000);
        proxy.cut();
        lastCut = proxy.sent;
        mark = lastCut + 4 * MiB;
      }
      assert.ok(lastCut < BIG, `the 10th cut came at ${lastCut} bytes sent: before the file could be done`);
      await waitFor('big.bin uploaded', () => listed('writer/big.bin'), 180_000);
      // Everything the agent sent since it started (enrollment, heartbeats, reconnections and TLS included).
      const sent = proxy.sent;
      t.diagnostic(`${backend}: the agent sent ${sent} bytes (${(sent / BIG).toFixed(3)} x the file)`);
      assert.ok(sent <= 1.25 * BIG, `sent ${sent} bytes for a file of ${BIG}`);
      const list = await objects(['ls', DEVICE]);
      for (const name of ['writer/a.txt', 'writer/b.txt', 'writer/day/c.csv', 'writer/big.bin'])
        assert.match(list.stdout, new RegExp(`${DEVICE}/${name}`), list.stdout);
      assert.doesNotMatch(list.stdout, /escape/, 'the symlink out of the directory is not uploaded');
      const parent = join(`${dataDir}.uploads`, NS, 'writer');
      uploadDir = join(parent, readdirSync(parent)[0]!);
      // The folder is the workload's uid's alone: other units' uids cannot read it (with or without bwrap).
      const folder = statSync(uploadDir);
      assert.equal(folder.uid, statSync(join(uploadDir, 'big.bin')).uid, 'owned by the uid that wrote');
      assert.equal(folder.mode & 0o777, 0o770);
      const out = join(dataDir, 'big.out');
      const got = await objects(['get', `${DEVICE}/writer/big.bin`, '-o', out]);
      assert.equal(got.code, 0, got.stderr);
      assert.equal(statSync(out).size, BIG);
      assert.equal(await sha256Of(out), await sha256Of(join(uploadDir, 'big.bin')), 'the object is the file');
      assert.equal((await objects(['get', `${DEVICE}/writer/day/c.csv`])).stdout, '1,2');
    });

    it('resumes after the agent is killed with SIGKILL mid-upload, not from zero', async (t) => {
      const data = randomBytes(KILLED);
      await writeFile(join(uploadDir, 'after-kill.bin'), data);
      const start = proxy.sent;
      // Killed past 40% of the file: sending it again from zero would take the total past 1.25 times it.
      await waitFor('the upload under way', () => proxy.sent - start > 0.4 * KILLED, 60_000);
      agent.process.kill('SIGKILL');
      await new Promise((resolve) => agent.process.once('exit', resolve));
      const killedAt = proxy.sent - start;
      assert.ok(killedAt < KILLED, 'killed before the whole file was sent');
      agent = await startAgent({
        hubUrl: proxyUrl,
        dataDir,
        name: DEVICE,
        args: ['--stop-workloads-on-exit'],
      });
      await waitFor('after-kill.bin uploaded', () => listed('writer/after-kill.bin'), 120_000);
      t.diagnostic(`${backend}: ${proxy.sent - start} bytes sent for ${KILLED}, killed at ${killedAt}`);
      assert.ok(proxy.sent - start <= 1.25 * KILLED, `sent ${proxy.sent - start} bytes for ${KILLED}`);
      const out = join(dataDir, 'after-kill.out');
      assert.equal((await objects(['get', `${DEVICE}/writer/after-kill.bin`, '-o', out])).code, 0);
      assert.ok(readFileSync(out).equals(data), 'the object is the file');
    });

    if (backend === 'fs')
      it('stores identical content once (the second object shares the first one’s data)', () => {
        const base = join(hub.dataDir, 'objects', 'data', 'devices', DEVICE, NS, 'writer');
        const a = statSync(join(base, 'a.txt'));
        const b = statSync(join(base, 'b.txt'));
        assert.equal(a.ino, b.ino, 'b.txt was not sent: the hub linked the content a.txt holds');
        assert.equal(readFileSync(join(base, 'b.txt'), 'utf8'), 'same');
      });

    it('reports the uploads in Device status and logs the refused symlink', async () => {
      await waitFor('status.uploads', async () => {
        const uploads = await uploadStatus();
        // Counted since the agent (re)started: the file uploaded after the SIGKILL at least.
        return (
          (uploads?.uploadedFiles ?? 0) >= 1 &&
          uploads?.lastUploadTime !== undefined &&
          uploads.queuedFiles === 0
        );
      });
      // Later errors (the cut connections) replace lastError; the refusal is in the agent's log.
      assert.match(agent.stderr(), /escape: a symbolic link: not uploaded/);
      // Where the device's files go, recorded at enrollment and kept through the agent's reports.
      const device = (await api.request('GET', `/apis/outpost.dev/v1alpha1/devices/${DEVICE}`)).json() as {
        status?: { objectStorage?: { location: string; prefix: string } };
      };
      assert.equal(device.status?.objectStorage?.prefix, `devices/${DEVICE}/`);
      assert.match(
        device.status?.objectStorage?.location ?? '',
        backend === 's3' ? /^s3:\/\/[^/]+\/e2e\/$/ : /^file:\/\/\/.*\/objects\/data\/$/,
      );
    });

    if (backend === 'fs') {
      it("refuses a device's upload under another device's prefix, and a wrong hash", async () => {
        const credentials = await loadCredentials(dataDir);
        assert.ok(credentials);
        const as = { cert: credentials.certPem, key: credentials.keyPem };
        const body = { namespace: NS, workload: 'writer', path: 'x.bin', size: 4, sha256: 'a'.repeat(64) };
        const other = await hubRequest(hub, 'POST', '/agent/v1/devices/gw-other/uploads', { ...as, body });
        assert.equal(other.status, 403, JSON.stringify(other.body));
        const traversal = await hubRequest(hub, 'POST', `/agent/v1/devices/${DEVICE}/uploads`, {
          ...as,
          body: { ...body, path: '../../gw-other/x' },
        });
        assert.equal(traversal.status, 422, JSON.stringify(traversal.body));
        const opened = await hubRequest(hub, 'POST', `/agent/v1/devices/${DEVICE}/uploads`, { ...as, body });
        assert.equal(opened.body.state, 'open');
        // The 4 bytes sent are not those whose hash was declared: the commit is refused.
        const id = opened.body.id as string;
        const { request } = await import('undici');
        const { Agent } = await import('undici');
        const dispatcher = new Agent({
          connect: { ca: readFileSync(join(hub.dataDir, 'pki', 'ca.crt'), 'utf8'), ...as },
        });
        const put = await request(`${hub.url}/agent/v1/devices/${DEVICE}/uploads/${id}`, {
          method: 'PUT',
          dispatcher,
          headers: { 'upload-offset': '0', 'content-type': 'application/octet-stream' },
          body: 'abcd',
        });
        assert.equal(put.statusCode, 200, await put.body.text());
        await dispatcher.close();
        const commit = await hubRequest(hub, 'POST', `/agent/v1/devices/${DEVICE}/uploads/${id}/commit`, as);
        assert.equal(commit.status, 422);
        assert.equal(commit.body.reason, 'HashMismatch');
        assert.match(
          String(commit.body.message),
          new RegExp(createHash('sha256').update('abcd').digest('hex')),
        );
      });

      it("lets a team read its namespace's objects and not another's", async () => {
        assert.equal((await kubectl(hub, ['create', 'namespace', 'other-team'])).code, 0);
        await bindWorkloadTeam(hub, NS, 'uploaders');
        await bindWorkloadTeam(hub, 'other-team', 'others');
        const team = await createUser(hub, 'ana', ['uploaders']);
        const stranger = await createUser(hub, 'olaf', ['others']);
        const mine = await objects(['get', `${DEVICE}/writer/day/c.csv`], team.kubeconfig);
        assert.equal(mine.stdout, '1,2', mine.stderr);
        const theirs = await objects(['get', `${DEVICE}/writer/day/c.csv`], stranger.kubeconfig);
        assert.notEqual(theirs.code, 0);
        assert.match(theirs.stderr, /forbidden/i);
      });
    }

    it('keeps a file past the quota queued, and says so in Device status', async () => {
      await writeFile(join(uploadDir, 'over.bin'), randomBytes(OVER));
      const uploads = await waitFor(
        'the quota in status.uploads',
        async () => {
          const status = await uploadStatus();
          return /exceed its object quota/.test(status?.lastError ?? '') &&
            (status?.queuedFiles ?? 0) >= 1 &&
            (status?.queuedBytes ?? 0) >= OVER
            ? status
            : undefined;
        },
        90_000,
      );
      assert.ok((uploads.uploadedBytes ?? 0) > 0, JSON.stringify(uploads));
      assert.ok(uploads.lastUploadTime, JSON.stringify(uploads));
      assert.equal(await listed('writer/over.bin'), false, 'nothing past the quota is stored');
    });
  });
}

describe('data upload through the hub', { timeout: 600_000, concurrency: 2 }, () => {
  uploadFlows('fs');
  uploadFlows('s3');
});
