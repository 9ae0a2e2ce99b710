/**
 * The real kubectl against discovery and OpenAPI served over TLS: `api-resources` through
 * aggregated discovery, `explain` through OpenAPI v3, `version`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import fastify, { type FastifyInstance } from 'fastify';
import { ALL_KINDS, KindRegistry } from '../../../api/index.ts';
import { loadOrCreatePki, writeKubeconfig } from '../../pki/index.ts';
import { openApiRoutes } from '../openapi/index.ts';
import { aggregatedDiscoveryMediaType, discoveryRoutes } from './routes.ts';

const execFileAsync = promisify(execFile);

interface Served {
  readonly url: string;
  readonly status: number;
  readonly contentType: string | undefined;
}

describe('kubectl against discovery and OpenAPI', () => {
  let dir: string;
  let app: FastifyInstance;
  let kubeconfig: string;
  const served: Served[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'outpost-discovery-'));
    const pki = await loadOrCreatePki(dir, { hosts: ['127.0.0.1'] });
    app = fastify({
      https: {
        key: pki.serverKey,
        cert: pki.serverCert,
        ca: pki.caCert,
        requestCert: true,
        rejectUnauthorized: false,
      },
    });
    const registry = new KindRegistry(ALL_KINDS);
    await app.register(discoveryRoutes, { registry, version: '0.1.0' });
    await app.register(openApiRoutes, { registry });
    app.addHook('onResponse', async (request, reply) => {
      const contentType = reply.getHeader('content-type');
      served.push({
        url: request.url,
        status: reply.statusCode,
        contentType: contentType === undefined ? undefined : String(contentType),
      });
    });
    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    kubeconfig = join(dir, 'admin.kubeconfig');
    await writeKubeconfig(kubeconfig, {
      server: address,
      caCert: pki.caCert,
      clientCert: pki.adminCert,
      clientKey: pki.adminKey,
    });
  });

  after(async () => {
    await app.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs kubectl with its own cache folder, so that nothing from another run is reused. */
  async function kubectl(...args: string[]): Promise<string> {
    const { stdout } = await execFileAsync(
      'kubectl',
      ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache'), '--request-timeout', '20s', ...args],
      { timeout: 30_000 },
    );
    return stdout;
  }

  it('lists our kinds with their short names through aggregated discovery', async () => {
    const rows = (await kubectl('api-resources', '--no-headers'))
      .trim()
      .split('\n')
      .map((line) => line.trim().split(/\s+/));
    const byName = new Map(rows.map((row) => [row[0], row]));
    assert.deepEqual(byName.get('workloads'), [
      'workloads',
      'wl',
      'outpost.dev/v1alpha1',
      'true',
      'Workload',
    ]);
    assert.deepEqual(byName.get('devices'), ['devices', 'dev', 'outpost.dev/v1alpha1', 'false', 'Device']);
    assert.deepEqual(byName.get('placements'), [
      'placements',
      'pl',
      'outpost.dev/v1alpha1',
      'true',
      'Placement',
    ]);
    assert.deepEqual(byName.get('mailboxes'), [
      'mailboxes',
      'mb',
      'outpost.dev/v1alpha1',
      'false',
      'Mailbox',
    ]);
    assert.deepEqual(byName.get('configmaps'), ['configmaps', 'cm', 'v1', 'true', 'ConfigMap']);
    assert.deepEqual(byName.get('secrets'), ['secrets', 'v1', 'true', 'Secret']);
    assert.equal(rows.length, ALL_KINDS.length);
    const apis = served.find((entry) => entry.url.startsWith('/apis?'));
    assert.equal(
      apis?.contentType,
      aggregatedDiscoveryMediaType('v2'),
      'kubectl was answered aggregated discovery',
    );
  });

  it('lists the kinds of the outpost category', async () => {
    const names = (await kubectl('api-resources', '--categories', 'outpost', '-o', 'name'))
      .trim()
      .split('\n')
      .sort();
    assert.deepEqual(names, [
      'deviceboundaries.outpost.dev',
      'devices.outpost.dev',
      'mailboxes.outpost.dev',
      'opcuaconnectors.outpost.dev',
      'placements.outpost.dev',
      'workloads.outpost.dev',
    ]);
  });

  it('puts the workload-facing kinds in the all category, as Kubernetes puts Deployments', async () => {
    const names = (await kubectl('api-resources', '--categories', 'all', '-o', 'name'))
      .trim()
      .split('\n')
      .sort();
    assert.deepEqual(names, [
      'opcuaconnectors.outpost.dev',
      'placements.outpost.dev',
      'workloads.outpost.dev',
    ]);
  });

  it('explains a Workload and the fields of its spec from our schemas', async () => {
    const kind = await kubectl('explain', 'workloads');
    assert.match(kind, /KIND:\s+Workload/);
    assert.match(kind, /What to run on devices/);
    assert.match(kind, /metadata\s+<ObjectMeta>/);
    const spec = await kubectl('explain', 'workloads.spec');
    assert.match(spec, /FIELD: spec <Object>/);
    assert.match(
      spec,
      /resources\s+<\[\]Object> -required-\s+Kubernetes objects to run, one of: Pod, Deployment/,
    );
    assert.match(spec, /rootless\s+<boolean>\s+Run containers as an unprivileged user/);
    const resources = await kubectl('explain', 'workloads.spec.resources');
    assert.match(resources, /FIELD: resources <\[\]Object>/);
    assert.match(resources, /API version of the embedded object/);
  });

  it('explains a Device status with its enums and a ConfigMap of the core group', async () => {
    const status = await kubectl('explain', 'devices.status');
    assert.match(status, /phase\s+<string>\s+enum: Pending, Online, Unreachable/);
    assert.match(status, /lastHeartbeatTime/);
    const configMap = await kubectl('explain', 'configmap');
    assert.match(configMap, /KIND:\s+ConfigMap\s+VERSION:\s+v1/);
    assert.match(configMap, /Configuration data for workloads/);
    assert.match(configMap, /data\s+<map\[string\]string>/);
  });

  it('shows the server version', async () => {
    const version = JSON.parse(await kubectl('version', '-o', 'json')) as {
      serverVersion: { gitVersion: string };
    };
    assert.equal(version.serverVersion.gitVersion, 'v1.32.0-outpost.0.1.0');
  });

  it('asked for nothing that was not served', () => {
    const failed = served.filter((entry) => entry.status >= 400);
    assert.deepEqual(failed, []);
  });
});
