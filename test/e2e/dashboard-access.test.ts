/**
 * Who reaches the dashboard and the API behind it: `outpost dashboard` serves the built
 * dashboard and proxies the API with the kubeconfig's identity (and refuses requests a foreign
 * web page could make through it); `outpost user token` issues bearer tokens that RBAC checks as
 * it checks a client certificate with the same name and groups, refused once expired or altered.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  bindWorkloadTeam,
  type CommandResult,
  type DashboardProcess,
  type HubProcess,
  kubectl,
  OUTPOST_BIN,
  removeDir,
  run,
  startDashboard,
  startHubProcess,
  succeeds,
  waitFor,
} from '../support/index.ts';

describe('dashboard access', () => {
  let hub: HubProcess;
  let dashboard: DashboardProcess;

  before(async () => {
    hub = await startHubProcess();
    dashboard = await startDashboard(hub);
    await succeeds(kubectl(hub, ['create', 'namespace', 'team-a']), 'create team-a');
  });
  after(async () => {
    await dashboard?.stop();
    await hub?.stop();
    if (hub) await removeDir(hub.dataDir);
  });

  const token = async (name: string, ...args: string[]): Promise<CommandResult> =>
    run(process.execPath, [OUTPOST_BIN, 'user', 'token', name, '--data-dir', hub.dataDir, ...args]);
  /** kubectl with nothing but the hub's CA and a bearer token. */
  const kubectlWith = async (bearer: string, args: string[]): Promise<CommandResult> => {
    const config = join(hub.dataDir, 'empty.kubeconfig');
    await writeFile(config, 'apiVersion: v1\nkind: Config\n');
    return run('kubectl', [
      '--kubeconfig',
      config,
      '--server',
      hub.url,
      '--certificate-authority',
      join(hub.dataDir, 'pki', 'ca.crt'),
      '--token',
      bearer,
      ...args,
    ]);
  };

  it('serves the built dashboard and the API through the local proxy', async () => {
    assert.match(dashboard.url, /^http:\/\/127\.0\.0\.1:\d+\/ui\/$/);
    const page = await fetch(dashboard.url);
    assert.equal(page.status, 200);
    const html = await page.text();
    const script = /<script type="module" crossorigin src="([^"]+)"/.exec(html)?.[1];
    assert.ok(script, `the page loads its bundle: ${html}`);
    const bundle = await fetch(new URL(script, dashboard.url));
    assert.equal(bundle.status, 200);
    assert.match(bundle.headers.get('content-type') ?? '', /javascript/);
    // The proxy speaks for the kubeconfig's user: the admin lists namespaces.
    const namespaces = await fetch(`${dashboard.origin}/api/v1/namespaces`);
    assert.equal(namespaces.status, 200);
    const names = ((await namespaces.json()) as { items: { metadata: { name: string } }[] }).items.map(
      (item) => item.metadata.name,
    );
    assert.ok(names.includes('team-a'), names.join(','));
  });

  it('refuses requests a web page from elsewhere could send through the proxy', async () => {
    // A DNS name that an attacker points at 127.0.0.1 (fetch will not set Host itself).
    const rebound = await new Promise<number | undefined>((resolve, reject) =>
      httpGet(
        `${dashboard.origin}/api/v1/namespaces`,
        { headers: { host: 'attacker.example' } },
        (answer) => {
          answer.resume();
          resolve(answer.statusCode);
        },
      ).on('error', reject),
    );
    assert.equal(rebound, 403);
    const crossSite = await fetch(`${dashboard.origin}/api/v1/namespaces/team-a`, {
      method: 'DELETE',
      headers: { origin: 'http://attacker.example' },
    });
    assert.equal(crossSite.status, 403);
    await succeeds(kubectl(hub, ['get', 'namespace', 'team-a']), 'team-a is still there');
  });

  it('issues a bearer token that RBAC checks like a certificate with the same name and groups', async () => {
    const issued = await token('dana', '--group', 'team-a-devs', '--ttl', '1h');
    assert.equal(issued.code, 0, issued.stderr);
    const bearer = issued.stdout.trim();
    assert.match(issued.stderr, /valid until/);
    const whoami = await succeeds(kubectlWith(bearer, ['auth', 'whoami']), 'whoami');
    assert.match(whoami, /Username\s+dana/);
    assert.match(whoami, /team-a-devs/);
    const before = await kubectlWith(bearer, ['get', 'workloads', '-n', 'team-a']);
    assert.notEqual(before.code, 0);
    assert.match(before.stderr, /forbidden/i);
    await bindWorkloadTeam(hub, 'team-a', 'team-a-devs');
    await waitFor(
      'the binding to apply',
      async () => (await kubectlWith(bearer, ['get', 'workloads', '-n', 'team-a'])).code === 0,
    );
    const elsewhere = await kubectlWith(bearer, ['get', 'workloads', '-n', 'default']);
    assert.match(elsewhere.stderr, /forbidden/i);
  });

  it('refuses an expired or altered token with 401', async () => {
    const issued = await token('erin', '--ttl', '1s');
    assert.equal(issued.code, 0, issued.stderr);
    const bearer = issued.stdout.trim();
    await waitFor('the token to expire', async () =>
      /Unauthorized|must be logged in/i.test((await kubectlWith(bearer, ['get', 'ns'])).stderr),
    );
    const fresh = (await token('erin', '--ttl', '1h')).stdout.trim();
    const altered = `${fresh.slice(0, 12)}${fresh[12] === 'A' ? 'B' : 'A'}${fresh.slice(13)}`;
    const refused = await kubectlWith(altered, ['get', 'ns']);
    assert.match(refused.stderr, /Unauthorized|must be logged in/i);
  });

  it('issues no token for a device identity', async () => {
    const refused = await token('outpost:device:gw-1');
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /are for devices/);
  });
});
