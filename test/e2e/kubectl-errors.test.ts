/**
 * What kubectl and a plain HTTPS client are told when a request is wrong:
 * stale writes (409), invalid objects (422 with field paths), unknown fields
 * under strict validation, missing namespaces (404), and no credentials (401).
 * Every refused write must leave the store as it was.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import YAML from 'yaml';
import {
  device,
  type KubectlHub,
  type Manifest,
  namespace,
  run,
  startKubectlHub,
  workload,
  workloadPath,
  yamlOf,
} from '../support/index.ts';

const NS = 'errors-team';

describe('kubectl and HTTPS clients are refused clearly, and refused writes change nothing', () => {
  let k: KubectlHub;

  before(async () => {
    k = await startKubectlHub();
    await k.ok(
      ['apply', '-f', '-'],
      yamlOf(namespace(NS), workload(NS, 'web', 'nginx:1.27', { app: 'web' })),
    );
  });

  after(async () => {
    await k?.stop();
  });

  /**
   * Every Workload's name and resourceVersion: unchanged means nothing was written to the
   * collection. (The list's own resourceVersion is the global revision, which the hub's
   * controllers move on by themselves, e.g. when renewing their Lease.)
   */
  const listRevision = async (): Promise<string> => {
    const response = await k.api.request('GET', workloadPath(NS));
    assert.equal(response.status, 200, response.text);
    const items = response.json().items as { metadata: { name: string; resourceVersion: string } }[];
    return items.map(({ metadata }) => `${metadata.name}@${metadata.resourceVersion}`).join(',');
  };
  const exists = async (path: string): Promise<boolean> => (await k.api.request('GET', path)).status === 200;

  describe('optimistic concurrency', () => {
    it('refuses kubectl replace of a stale manifest with 409 Conflict and keeps the newer object', async () => {
      const stale = await k.ok(['get', 'workload', 'web', '-n', NS, '-o', 'yaml']);
      await k.ok(['label', 'workload', 'web', '-n', NS, 'edited=by-someone-else']);
      const changed = stale.replace('nginx:1.27', 'nginx:1.28');
      const stderr = await k.fails(['replace', '-f', '-'], changed);
      assert.match(stderr, /Error from server \(Conflict\)/);
      assert.match(
        stderr,
        /Operation cannot be fulfilled on workloads\.outpost\.dev "web": the object has been modified/,
      );
      const live = JSON.parse(await k.ok(['get', 'workload', 'web', '-n', NS, '-o', 'json']));
      assert.equal(live.metadata.labels.edited, 'by-someone-else');
      assert.equal(live.spec.resources[0].spec.template.spec.containers[0].image, 'nginx:1.27');

      // With the current resourceVersion the same replace goes through.
      const fresh = (await k.ok(['get', 'workload', 'web', '-n', NS, '-o', 'yaml'])).replace(
        'nginx:1.27',
        'nginx:1.28',
      );
      assert.match(await k.ok(['replace', '-f', '-'], fresh), /workload\.outpost\.dev\/web replaced/);
    });

    it('answers a PUT with an old resourceVersion with a 409 Status', async () => {
      const current = (await k.api.request('GET', workloadPath(NS, 'web'))).json();
      const first = await k.api.request('PUT', workloadPath(NS, 'web'), {
        body: { ...current, metadata: { ...current.metadata, labels: { app: 'web', round: '1' } } },
      });
      assert.equal(first.status, 200, first.text);
      const second = await k.api.request('PUT', workloadPath(NS, 'web'), {
        body: { ...current, metadata: { ...current.metadata, labels: { app: 'web', round: '2' } } },
      });
      assert.equal(second.status, 409, second.text);
      const status = second.json();
      assert.deepEqual(
        [status.kind, status.apiVersion, status.status, status.reason, status.code],
        ['Status', 'v1', 'Failure', 'Conflict', 409],
      );
      assert.deepEqual(status.details, { name: 'web', group: 'outpost.dev', kind: 'workloads' });
      assert.equal((await k.api.request('GET', workloadPath(NS, 'web'))).json().metadata.labels.round, '1');
    });

    it('lets exactly one of two concurrent updates from the same resourceVersion win', async () => {
      const current = (await k.api.request('GET', workloadPath(NS, 'web'))).json();
      const put = (value: string) =>
        k.api.request('PUT', workloadPath(NS, 'web'), {
          body: { ...current, metadata: { ...current.metadata, labels: { app: 'web', racer: value } } },
        });
      const results = await Promise.all([put('a'), put('b')]);
      assert.deepEqual(results.map((r) => r.status).sort(), [200, 409]);
      const winner = results.find((r) => r.status === 200)!.json().metadata.labels.racer;
      assert.equal(
        (await k.api.request('GET', workloadPath(NS, 'web'))).json().metadata.labels.racer,
        winner,
      );
    });

    it('refuses kubectl apply of a manifest pinned to a stale resourceVersion', async () => {
      const stale = workload(NS, 'web', 'nginx:1.30', { app: 'web' });
      stale.metadata.resourceVersion = '1';
      const stderr = await k.fails(['apply', '-f', '-'], yamlOf(stale));
      assert.match(stderr, /Conflict|the object has been modified/);
      const live = (await k.api.request('GET', workloadPath(NS, 'web'))).json();
      assert.notEqual(live.spec.resources[0].spec.template.spec.containers[0].image, 'nginx:1.30');
    });

    it('refuses to create an object that already exists with 409 AlreadyExists', async () => {
      const stderr = await k.fails(['create', '-f', '-'], yamlOf(workload(NS, 'web')));
      assert.match(stderr, /AlreadyExists/);
      assert.match(stderr, /workloads\.outpost\.dev "web" already exists/);
    });
  });

  describe('validation', () => {
    const withoutResources = (): Manifest => ({
      apiVersion: 'outpost.dev/v1alpha1',
      kind: 'Workload',
      metadata: { name: 'no-resources', namespace: NS },
      spec: {},
    });

    it('refuses a Workload without spec.resources with 422 naming the field, and stores nothing', async () => {
      const revision = await listRevision();
      const stderr = await k.fails(['apply', '-f', '-'], yamlOf(withoutResources()));
      assert.match(stderr, /The Workload "no-resources" is invalid: spec\.resources: Required value/);

      const response = await k.api.request('POST', workloadPath(NS), { body: withoutResources() });
      assert.equal(response.status, 422, response.text);
      const status = response.json();
      assert.equal(status.kind, 'Status');
      assert.equal(status.reason, 'Invalid');
      assert.match(status.message, /spec\.resources/);
      assert.deepEqual(
        status.details.causes.map((cause: { field: string }) => cause.field),
        ['spec.resources'],
      );
      assert.equal(await exists(workloadPath(NS, 'no-resources')), false);
      assert.equal(await listRevision(), revision, 'nothing was written');
    });

    it('refuses a Workload holding an unsupported kind with the index of the offending resource', async () => {
      const revision = await listRevision();
      const job: Manifest = {
        apiVersion: 'outpost.dev/v1alpha1',
        kind: 'Workload',
        metadata: { name: 'has-job', namespace: NS },
        spec: {
          resources: [
            { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ok' } },
            { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'nightly' } },
          ],
        },
      };
      const stderr = await k.fails(['apply', '--server-side', '-f', '-'], yamlOf(job));
      assert.match(stderr, /spec\.resources\[1\]\.kind: Unsupported value: "Job"/);
      const response = await k.api.request('POST', workloadPath(NS), { body: job });
      assert.equal(response.status, 422, response.text);
      assert.equal(response.json().details.causes[0].field, 'spec.resources[1].kind');
      assert.equal(await exists(workloadPath(NS, 'has-job')), false);
      assert.equal(await listRevision(), revision);
    });

    it('refuses an update that makes a live Workload invalid and keeps the old spec', async () => {
      const revision = await listRevision();
      const broken = workload(NS, 'web', 'nginx:1.27', { app: 'web' });
      (broken.spec as { resources: unknown[] }).resources = [];
      const stderr = await k.fails(['apply', '-f', '-'], yamlOf(broken));
      assert.match(stderr, /spec\.resources/);
      assert.equal((await k.api.request('GET', workloadPath(NS, 'web'))).json().spec.resources.length, 1);
      assert.equal(await listRevision(), revision);
    });

    it('refuses values of the wrong type or out of range with their field paths', async () => {
      const wrongType = workload(NS, 'wrong-type');
      (wrongType.spec as Record<string, unknown>).rootless = 'always';
      const stderr = await k.fails(['apply', '-f', '-'], yamlOf(wrongType));
      assert.match(stderr, /spec\.rootless/);
      assert.equal(await exists(workloadPath(NS, 'wrong-type')), false);

      const tooFast = await k.fails(['apply', '-f', '-'], yamlOf(device('too-fast', {}, 0)));
      assert.match(tooFast, /spec\.heartbeat\.periodSeconds/);
      assert.equal(await exists('/apis/outpost.dev/v1alpha1/devices/too-fast'), false);
    });

    it('refuses an unknown field under kubectl strict validation, naming the field', async () => {
      const unknown = workload(NS, 'unknown-field');
      (unknown.spec as Record<string, unknown>).replicas = 3;
      const revision = await listRevision();
      const stderr = await k.fails(['apply', '-f', '-'], yamlOf(unknown));
      assert.match(stderr, /strict decoding error: unknown field "spec\.replicas"/);
      const serverSide = await k.fails(['apply', '--server-side', '-f', '-'], yamlOf(unknown));
      assert.match(serverSide, /unknown field "spec\.replicas"/);
      assert.equal(await exists(workloadPath(NS, 'unknown-field')), false);
      assert.equal(await listRevision(), revision);
    });

    it('accepts the same manifest with --validate=warn, warns about the field and drops it', async () => {
      const unknown = workload(NS, 'unknown-field');
      (unknown.spec as Record<string, unknown>).replicas = 3;
      const result = await k.run(['apply', '--validate=warn', '-f', '-'], yamlOf(unknown));
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /Warning: unknown field "spec\.replicas"/);
      const stored = (await k.api.request('GET', workloadPath(NS, 'unknown-field'))).json();
      assert.equal(stored.spec.replicas, undefined, 'unknown fields are pruned');
    });

    it('refuses a body that is not JSON with 400', async () => {
      const response = await k.api.request('POST', workloadPath(NS), { body: '{"apiVersion": ' });
      assert.equal(response.status, 400, response.text);
      assert.equal(response.json().reason, 'BadRequest');
    });
  });

  describe('namespaces', () => {
    it('refuses a namespaced object in a namespace that does not exist with 404 namespaces "x" not found', async () => {
      const stderr = await k.fails(['apply', '-f', '-'], yamlOf(workload('nowhere', 'lost')));
      assert.match(stderr, /namespaces "nowhere" not found/);
      const serverSide = await k.fails(
        ['apply', '--server-side', '-f', '-'],
        yamlOf(workload('nowhere', 'lost')),
      );
      assert.match(serverSide, /namespaces "nowhere" not found/);

      const response = await k.api.request('POST', workloadPath('nowhere'), {
        body: workload('nowhere', 'lost'),
      });
      assert.equal(response.status, 404, response.text);
      const status = response.json();
      assert.deepEqual([status.reason, status.message], ['NotFound', 'namespaces "nowhere" not found']);
      assert.deepEqual(status.details, { name: 'nowhere', group: '', kind: 'namespaces' });
      assert.equal(await exists(workloadPath('nowhere', 'lost')), false);
    });

    it('accepts the object once the namespace exists', async () => {
      await k.ok(['apply', '-f', '-'], yamlOf(namespace('nowhere')));
      assert.match(await k.ok(['apply', '-f', '-'], yamlOf(workload('nowhere', 'lost'))), /created/);
    });
  });

  describe('authentication', () => {
    let ca: string;
    let server: string;

    before(async () => {
      const config = YAML.parse(await readFile(k.hub.kubeconfig, 'utf8'));
      ca = Buffer.from(config.clusters[0].cluster['certificate-authority-data'], 'base64').toString('utf8');
      server = config.clusters[0].cluster.server;
    });

    const anonymous = async (path: string, connect: Record<string, string> = {}) => {
      const dispatcher = new Agent({ connect: { ca, ...connect } });
      try {
        const response = await request(server + path, { dispatcher });
        return {
          status: response.statusCode,
          type: response.headers['content-type'],
          body: await response.body.text(),
        };
      } finally {
        await dispatcher.close();
      }
    };

    it('answers a request without a client certificate with a 401 Status', async () => {
      for (const path of [workloadPath(NS), '/apis/outpost.dev/v1alpha1/devices', '/api/v1/namespaces']) {
        const response = await anonymous(path);
        assert.equal(response.status, 401, `${path}: ${response.body}`);
        assert.match(String(response.type), /^application\/json/);
        assert.deepEqual(JSON.parse(response.body), {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: 'Unauthorized',
          reason: 'Unauthorized',
          code: 401,
        });
      }
    });

    it('answers a client certificate from another CA with 401', async () => {
      const dir = k.hub.dataDir;
      const key = join(dir, 'stranger.key');
      const cert = join(dir, 'stranger.crt');
      const made = await run('openssl', [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=admin/O=system:masters',
      ]);
      assert.equal(made.code, 0, made.stderr);
      const response = await anonymous(workloadPath(NS), {
        key: await readFile(key, 'utf8'),
        cert: await readFile(cert, 'utf8'),
      });
      assert.equal(response.status, 401, response.body);
      assert.equal(JSON.parse(response.body).reason, 'Unauthorized');
    });

    it('tells kubectl without client credentials that it must log in', async () => {
      const config = YAML.parse(await readFile(k.hub.kubeconfig, 'utf8'));
      // A bearer token the hub does not know stands in for "no credentials": with no
      // user at all kubectl would prompt for a password instead of sending the request.
      config.users[0].user = { token: 'not-a-known-token' };
      const path = join(k.hub.dataDir, 'anonymous.kubeconfig');
      await writeFile(path, YAML.stringify(config));
      const result = await run('kubectl', ['--kubeconfig', path, 'get', 'workloads', '-n', NS]);
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /You must be logged in to the server/);
      const raw = await run('kubectl', ['--kubeconfig', path, 'get', '--raw', workloadPath(NS)]);
      assert.notEqual(raw.code, 0);
      assert.match(raw.stderr, /Unauthorized/);
    });
  });
});
