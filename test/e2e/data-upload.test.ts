/**
 * Data upload end to end: an `outpost hub` process (filesystem backend) and an `outpost agent`
 * (process runtime) that reaches the hub through a TCP proxy the test counts and cuts. A workload
 * writes files into its upload directory: they arrive (read back with `outpost objects`), identical
 * content is stored once, a symlink out of the directory is refused and reported in Device status,
 * a large file survives cut connections sending at most 1.25 times its size, a device cannot open
 * an upload under another device's prefix, and a team reads only its own namespace's objects.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
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
  startAgent,
  startHubProcess,
  tempDir,
  waitFor,
} from '../support/index.ts';

const NS = 'upload-e2e';
const DEVICE = 'gw-up-1';
const DIR = '/srv/outpost-upload-e2e';
const BIG = 12 * 1024 * 1024;

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

function writer() {
  return {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Workload',
    metadata: { name: 'writer', namespace: NS, labels: { app: 'writer' } },
    spec: {
      uploads: [{ path: DIR, maxBandwidth: 3 * 1024 * 1024 }],
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
                  `cd ${DIR} && printf same > a.txt && printf same > b.txt && mkdir -p day && printf 1,2 > day/c.csv && ln -s /etc/passwd escape && head -c ${BIG} /dev/urandom > big.bin; exec sleep 3600`,
                ],
              },
            ],
          },
        },
      ],
    },
  };
}

describe('data upload through the hub', { timeout: 300_000 }, () => {
  let hub: HubProcess;
  let agent: AgentProcess;
  let api: ApiClient;
  let proxy: CountingProxy;
  let dataDir: string;
  let proxyUrl: string;
  const objects = (args: string[], kubeconfig = hub.kubeconfig) =>
    run(process.execPath, [OUTPOST_BIN, 'objects', ...args, '-n', NS, '--kubeconfig', kubeconfig], {
      timeoutMs: 60_000,
    });

  before(async () => {
    hub = await startHubProcess();
    api = apiClient(hub.kubeconfig);
    proxy = new CountingProxy(Number(new URL(hub.url).port));
    proxyUrl = await proxy.listen();
    dataDir = await tempDir('outpost-agent-upload-');
    const token = await createToken(hub, ['--labels', 'site=upload-e2e']);
    agent = await startAgent({
      hubUrl: proxyUrl,
      token,
      dataDir,
      name: DEVICE,
      args: ['--stop-workloads-on-exit'],
    });
    assert.equal((await kubectl(hub, ['create', 'namespace', NS])).code, 0);
    await kubectlApply(hub, writer(), placementOf(NS, 'writers', { app: 'writer', site: 'upload-e2e' }));
  });

  after(async () => {
    await agent?.stop();
    await proxy?.close();
    await api?.close();
    await hub?.stop();
    if (dataDir) await removeDir(dataDir);
    if (dataDir) await removeDir(`${dataDir}.uploads`);
    if (hub) await removeDir(hub.dataDir);
  });

  it('uploads the completed files, resuming the large one across cut connections', async () => {
    // Cut every connection a few times while the large file is under way (3 MiB/s: about 4 s).
    let cuts = 0;
    await waitFor('the large upload started', async () => {
      const list = await objects(['ls', DEVICE]);
      return list.stdout.includes('a.txt') && proxy.sent > 2 * 1024 * 1024;
    });
    const before = proxy.sent;
    for (; cuts < 3; cuts++) {
      proxy.cut();
      await new Promise((resolve) => setTimeout(resolve, 1500));
    }
    await waitFor(
      'big.bin uploaded',
      async () => (await objects(['ls', DEVICE])).stdout.includes('writer/big.bin'),
      120_000,
    );
    const list = await objects(['ls', DEVICE]);
    for (const name of ['writer/a.txt', 'writer/b.txt', 'writer/day/c.csv', 'writer/big.bin'])
      assert.match(list.stdout, new RegExp(`${DEVICE}/${name}`), list.stdout);
    assert.doesNotMatch(list.stdout, /escape/, 'the symlink out of the directory is not uploaded');
    // Everything the agent sent after the first 2 MiB (heartbeats and TLS included) is below 1.25 x the file.
    assert.ok(
      proxy.sent - before + 2 * 1024 * 1024 <= 1.25 * BIG,
      `sent ${proxy.sent - before} after the start`,
    );
    const out = join(dataDir, 'big.out');
    const got = await objects(['get', `${DEVICE}/writer/big.bin`, '-o', out]);
    assert.equal(got.code, 0, got.stderr);
    assert.equal(statSync(out).size, BIG);
    const read = await objects(['get', `${DEVICE}/writer/day/c.csv`]);
    assert.equal(read.stdout, '1,2');
  });

  it('resumes after the agent is killed with SIGKILL mid-upload, without sending the file again', async () => {
    const parent = join(`${dataDir}.uploads`, NS, 'writer');
    const dir = join(parent, readdirSync(parent)[0]!);
    const data = randomBytes(BIG);
    await writeFile(join(dir, 'after-kill.bin'), data);
    const start = proxy.sent;
    await waitFor('the upload under way', () => proxy.sent - start > 3 * 1024 * 1024, 60_000);
    agent.process.kill('SIGKILL');
    await new Promise((resolve) => agent.process.once('exit', resolve));
    agent = await startAgent({ hubUrl: proxyUrl, dataDir, name: DEVICE, args: ['--stop-workloads-on-exit'] });
    await waitFor(
      'after-kill.bin uploaded',
      async () =>
        (await objects(['ls', `${DEVICE}/writer/after-kill.bin`])).stdout.includes('after-kill.bin'),
      120_000,
    );
    assert.ok(proxy.sent - start <= 1.25 * BIG, `sent ${proxy.sent - start} bytes for ${BIG}`);
    const out = join(dataDir, 'after-kill.out');
    assert.equal((await objects(['get', `${DEVICE}/writer/after-kill.bin`, '-o', out])).code, 0);
    assert.ok(readFileSync(out).equals(data), 'the object is the file');
  });

  it('stores identical content once (the second object shares the first one’s data)', () => {
    const base = join(hub.dataDir, 'objects', 'data', 'devices', DEVICE, NS, 'writer');
    const a = statSync(join(base, 'a.txt'));
    const b = statSync(join(base, 'b.txt'));
    assert.equal(a.ino, b.ino, 'b.txt was not sent: the hub linked the content a.txt holds');
    assert.equal(readFileSync(join(base, 'b.txt'), 'utf8'), 'same');
  });

  it('reports the uploads in Device status and logs the refused symlink', async () => {
    await waitFor('status.uploads', async () => {
      const device = (await api.request('GET', `/apis/outpost.dev/v1alpha1/devices/${DEVICE}`)).json() as {
        status?: { uploads?: { uploadedFiles?: number; lastUploadTime?: string; queuedFiles?: number } };
      };
      const uploads = device.status?.uploads;
      // Counted since the agent (re)started: the file uploaded after the SIGKILL at least.
      return (
        (uploads?.uploadedFiles ?? 0) >= 1 &&
        uploads?.lastUploadTime !== undefined &&
        uploads.queuedFiles === 0
      );
    });
    // Later errors (the cut connections) replace lastError; the refusal is in the agent's log.
    assert.match(agent.stderr(), /escape: a symbolic link: not uploaded/);
  });

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
    assert.match(String(commit.body.message), new RegExp(createHash('sha256').update('abcd').digest('hex')));
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
});
