/**
 * The agent behind a real Squid: with `HTTPS_PROXY` set, enrollment, the
 * Mailbox watch and the status writes all go through the proxy (CONNECT
 * tunnels, TLS end to end with the hub), as at a site whose gateways reach
 * the hub only through the proxy of the level above; with the hub in
 * `NO_PROXY`, the agent goes direct. Squid runs in the foreground on a free
 * port with a generated config, no cache, its pid file and logs in a temp dir.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { chown, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type AgentProcess,
  type ApiClient,
  apiClient,
  createToken,
  freePort,
  type HubProcess,
  removeDir,
  startAgent,
  startHubProcess,
  tempDir,
  waitFor,
} from '../support/index.ts';

/** A Squid process listening on 127.0.0.1. */
interface Squid {
  readonly url: string;
  /** The CONNECT targets of squid's access log (a tunnel is logged when it closes). */
  connects(): Promise<string[]>;
  stop(): Promise<void>;
}

/** The uid and gid of a system user, from /etc/passwd. */
async function userIds(name: string): Promise<{ uid: number; gid: number } | undefined> {
  const line = (await readFile('/etc/passwd', 'utf8')).split('\n').find((l) => l.startsWith(`${name}:`));
  const [, , uid, gid] = line?.split(':') ?? [];
  return line ? { uid: Number(uid), gid: Number(gid) } : undefined;
}

async function startSquid(dir: string): Promise<Squid> {
  const port = await freePort();
  const log = (name: string) => join(dir, name);
  const config = [
    `http_port 127.0.0.1:${port}`,
    `pid_filename ${log('squid.pid')}`,
    `cache_log ${log('cache.log')}`,
    `access_log stdio:${log('access.log')}`,
    'cache_store_log none',
    'cache deny all',
    'cache_mem 8 MB',
    `coredump_dir ${dir}`,
    'netdb_filename none',
    'pinger_enable off',
    'logfile_rotate 0',
    'shutdown_lifetime 0 seconds',
    // Started as root, squid drops to this user (Debian's), which must be able to write its logs.
    'cache_effective_user proxy',
    'http_access allow localhost',
    'http_access deny all',
    '',
  ].join('\n');
  await writeFile(join(dir, 'squid.conf'), config);
  const proxyUser = process.getuid?.() === 0 ? await userIds('proxy') : undefined;
  if (proxyUser) await chown(dir, proxyUser.uid, proxyUser.gid);
  let output = '';
  const child: ChildProcess = spawn('squid', ['-N', '-f', join(dir, 'squid.conf')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const cacheLog = () => readFile(log('cache.log'), 'utf8').catch(() => '');
  await waitFor(
    'squid accepting connections',
    async () => {
      if (child.exitCode !== null) throw new Error(`squid exited: ${output}${await cacheLog()}`);
      return (await cacheLog()).includes('Accepting HTTP Socket connections');
    },
    30_000,
  );
  return {
    url: `http://127.0.0.1:${port}`,
    async connects() {
      const text = await readFile(log('access.log'), 'utf8').catch(() => '');
      // time elapsed client code/status bytes method URL ...
      return text
        .split('\n')
        .map((line) => line.trim().split(/\s+/))
        .filter((fields) => fields[5] === 'CONNECT')
        .map((fields) => fields[6]!);
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

describe('agent behind a Squid HTTPS proxy', { timeout: 180_000 }, () => {
  let hub: HubProcess;
  let api: ApiClient;
  let squid: Squid;
  let squidDir: string;
  const agents: AgentProcess[] = [];
  const dirs: string[] = [];

  before(async () => {
    squidDir = await tempDir('outpost-squid-');
    [hub, squid] = await Promise.all([startHubProcess(), startSquid(squidDir)]);
    api = apiClient(hub.kubeconfig);
  });

  after(async () => {
    for (const agent of agents) await agent.stop();
    await squid?.stop();
    await api?.close();
    await hub?.stop();
    for (const dir of [...dirs, squidDir, hub?.dataDir]) if (dir) await removeDir(dir);
  });

  const online = (name: string) =>
    waitFor(`${name} online`, async () => {
      const device = (await api.request('GET', `/apis/outpost.dev/v1alpha1/devices/${name}`)).json();
      return device.status?.phase === 'Online' ? device : undefined;
    });

  async function runAgent(name: string, env: NodeJS.ProcessEnv): Promise<AgentProcess> {
    const dataDir = await tempDir('outpost-agent-proxy-');
    dirs.push(dataDir);
    const agent = await startAgent({ hubUrl: hub.url, token: await createToken(hub), dataDir, name, env });
    agents.push(agent);
    return agent;
  }

  it('enrolls, watches and reports through squid', async () => {
    const agent = await runAgent('gw-proxied', {
      HTTPS_PROXY: squid.url,
      https_proxy: squid.url,
      NO_PROXY: '',
      no_proxy: '',
    });
    await online('gw-proxied');
    const hubHost = new URL(hub.url).host;
    // Enrollment's requests closed their tunnels already; the watch and heartbeat tunnels close with the agent.
    await waitFor('enrollment tunnels logged', async () => (await squid.connects()).length >= 2);
    await agent.stop();
    const connects = await waitFor('every tunnel logged', async () => {
      const all = await squid.connects();
      return all.length >= 3 ? all : undefined;
    });
    assert.ok(
      connects.every((target) => target === hubHost),
      connects.join(', '),
    );
  });

  it('goes direct to a hub named in NO_PROXY', async () => {
    const before = (await squid.connects()).length;
    const agent = await runAgent('gw-direct', {
      HTTPS_PROXY: squid.url,
      https_proxy: squid.url,
      NO_PROXY: '127.0.0.1',
      no_proxy: '127.0.0.1',
    });
    await online('gw-direct');
    await agent.stop();
    // Squid logs a tunnel when it closes: with the agent gone, any tunnel of its would be logged now.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal((await squid.connects()).length, before);
  });
});
