/**
 * The agent behind an HTTP proxy: with `HTTPS_PROXY` set, enrollment, the
 * Mailbox watch and the status writes all go through the proxy (CONNECT
 * tunnels, TLS end to end with the hub), as at a site whose gateways reach
 * the hub only through the proxy of the level above.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  type ApiClient,
  apiClient,
  type HubProcess,
  removeDir,
  startHubProcess,
  tempDir,
  waitFor,
} from '../support/index.ts';
import { type AgentProcess, startAgent } from './agent-support.ts';
import { createToken } from './enrollment-support.ts';

/** A minimal forward proxy that only tunnels (CONNECT), recording each target. */
async function startConnectProxy(): Promise<{
  server: Server;
  url: string;
  targets: string[];
  close(): Promise<void>;
}> {
  const targets: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((_request, response) => {
    response.writeHead(405).end();
  });
  server.on('connect', (request, client: Socket, head: Buffer) => {
    targets.push(request.url ?? '');
    const [host, port] = (request.url ?? '').split(':');
    const upstream = connect(Number(port), host!, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return {
    server,
    url: `http://127.0.0.1:${address.port}`,
    targets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('agent behind an HTTPS proxy', { timeout: 180_000 }, () => {
  let hub: HubProcess;
  let api: ApiClient;
  let agent: AgentProcess;
  let dataDir: string;
  let proxy: Awaited<ReturnType<typeof startConnectProxy>>;

  before(async () => {
    hub = await startHubProcess();
    api = apiClient(hub.kubeconfig);
    proxy = await startConnectProxy();
    dataDir = await tempDir('outpost-agent-proxy-');
  });

  after(async () => {
    await agent?.stop();
    await proxy?.close();
    await api?.close();
    await hub?.stop();
    if (dataDir) await removeDir(dataDir);
    await removeDir(hub.dataDir);
  });

  it('enrolls, watches and reports through the proxy', async () => {
    const token = await createToken(hub);
    agent = await startAgent({
      hubUrl: hub.url,
      token,
      dataDir,
      name: 'gw-proxied',
      env: { HTTPS_PROXY: proxy.url, https_proxy: proxy.url, NO_PROXY: '', no_proxy: '' },
    });
    await waitFor('the device online', async () => {
      const device = (await api.request('GET', '/apis/outpost.dev/v1alpha1/devices/gw-proxied')).json();
      return device.status?.phase === 'Online' ? device : undefined;
    });
    const hubHost = new URL(hub.url).host;
    assert.ok(proxy.targets.length >= 2, `tunnels: ${proxy.targets.join(', ')}`);
    assert.ok(
      proxy.targets.every((target) => target === hubHost),
      proxy.targets.join(', '),
    );
  });
});
