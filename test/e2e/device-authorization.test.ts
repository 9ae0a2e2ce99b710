/**
 * The device authorisation matrix, end to end over mTLS: device A, with a
 * certificate from the hub's CA, against every kind the hub serves, every
 * verb, its own objects and device B's, the status subresource and
 * discovery. A device may read its own Mailbox and Device (list and watch
 * only narrowed to its name), write their status, and nothing else; a status
 * write never changes labels, annotations or spec, nor the status fields
 * only the hub writes (its certificate, its object storage, its nested state).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ALL_KINDS, apiVersionOf, type KindDefinition, REVIEW_KINDS } from '../../src/api/index.ts';
import { writeKubeconfig } from '../../src/hub/pki/index.ts';
import {
  type ApiClient,
  apiClient,
  type HubProcess,
  issueDeviceCertificate,
  removeDir,
  startHubProcess,
} from '../support/index.ts';

const A = 'dev-a';
const B = 'dev-b';
const USER_A = `outpost:device:${A}`;

type Expect = 'allowed' | 'forbidden';

interface Case {
  readonly what: string;
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  readonly path: string;
  readonly body?: () => Promise<unknown>;
  readonly contentType?: string;
  readonly expect: Expect;
}

/** What device A may do: its own Mailbox and Device, read; their status, read and written. */
function expected(def: KindDefinition, subresource: '' | 'status', verb: string, target: string): Expect {
  if (target !== A || def.group !== 'outpost.dev') return 'forbidden';
  if (def.plural !== 'mailboxes' && def.plural !== 'devices') return 'forbidden';
  const verbs = subresource === 'status' ? ['get', 'update', 'patch'] : ['get', 'list', 'watch'];
  return verbs.includes(verb) ? 'allowed' : 'forbidden';
}

describe('device authorisation', () => {
  let hub: HubProcess;
  let admin: ApiClient;
  let deviceA: ApiClient;

  const collection = (def: KindDefinition) =>
    `${def.group === '' ? `/api/${def.version}` : `/apis/${def.group}/${def.version}`}${
      def.namespaced ? '/namespaces/default' : ''
    }/${def.plural}`;
  const stub = (def: KindDefinition, name: string) => ({
    apiVersion: apiVersionOf(def),
    kind: def.kind,
    metadata: { name },
  });
  /** A status body device A could write: the object as stored with a status of our own. */
  const statusOf = (def: KindDefinition) =>
    def.plural === 'devices' ? { phase: 'Online' } : { observedGeneration: 1, objects: [] };

  before(async () => {
    hub = await startHubProcess();
    admin = apiClient(hub.kubeconfig);
    const devices = collection(ALL_KINDS.find((d) => d.plural === 'devices')!);
    const mailboxes = collection(ALL_KINDS.find((d) => d.plural === 'mailboxes')!);
    const uids: Record<string, string> = {};
    for (const name of [A, B]) {
      const created = await admin.request('POST', devices, {
        body: {
          apiVersion: 'outpost.dev/v1alpha1',
          kind: 'Device',
          metadata: { name, labels: { site: 'plant-1' } },
          spec: { approved: true, heartbeat: { periodSeconds: 15 } },
        },
      });
      assert.equal(created.status, 201, created.text);
      uids[name] = created.json().metadata.uid;
      // The hub keeps one Mailbox per Device (its controller may have made it already).
      const mailbox = await admin.request('POST', mailboxes, {
        body: {
          apiVersion: 'outpost.dev/v1alpha1',
          kind: 'Mailbox',
          metadata: { name },
          spec: { objects: [] },
        },
      });
      assert.ok(mailbox.status === 201 || mailbox.status === 409, mailbox.text);
    }
    deviceA = apiClient(await deviceKubeconfig(hub, A, uids[A]!));
  });
  after(async () => {
    await admin?.close();
    await deviceA?.close();
    await hub?.stop();
    if (hub) await removeDir(hub.dataDir);
  });

  /** Every endpoint and verb the hub serves for every kind, for A's and B's names. */
  function matrix(): Case[] {
    const cases: Case[] = [];
    for (const def of ALL_KINDS.filter((d) => !REVIEW_KINDS.includes(d))) {
      const verbs = new Set(
        def.verbs ?? ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'],
      );
      const coll = collection(def);
      const merge = 'application/merge-patch+json';
      for (const target of [A, B]) {
        const one = `${coll}/${target}`;
        const narrowed = `fieldSelector=metadata.name%3D${target}`;
        const add = (verb: string, c: Omit<Case, 'what' | 'expect'>, sub: '' | 'status' = '') => {
          if (!verbs.has(verb)) return;
          const what = `${verb} ${def.plural}${sub ? '/status' : ''} ${target}`;
          cases.push({ ...c, what, expect: expected(def, sub, verb, target) });
        };
        add('get', { method: 'GET', path: one });
        add('list', { method: 'GET', path: `${coll}?${narrowed}` });
        add('watch', { method: 'GET', path: `${coll}?watch=1&timeoutSeconds=1&${narrowed}` });
        add('create', { method: 'POST', path: coll, body: async () => stub(def, target) });
        add('update', { method: 'PUT', path: one, body: async () => stub(def, target) });
        add('patch', {
          method: 'PATCH',
          path: one,
          body: async () => ({ metadata: { labels: { x: 'y' } } }),
          contentType: merge,
        });
        add('delete', { method: 'DELETE', path: one });
        add('deletecollection', { method: 'DELETE', path: `${coll}?${narrowed}` });
        if (!def.statusSubresource) continue;
        add('get', { method: 'GET', path: `${one}/status` }, 'status');
        add(
          'update',
          {
            method: 'PUT',
            path: `${one}/status`,
            body: async () => {
              const live = (await admin.request('GET', one)).json();
              return { ...live, status: statusOf(def) };
            },
          },
          'status',
        );
        add(
          'patch',
          {
            method: 'PATCH',
            path: `${one}/status`,
            body: async () => ({ status: statusOf(def) }),
            contentType: merge,
          },
          'status',
        );
      }
      // Lists, watches and collection deletes not narrowed to one name are never a device's own.
      const whole = (verb: string, method: Case['method'], path: string) => {
        if (verbs.has(verb))
          cases.push({ what: `${verb} all ${def.plural}`, method, path, expect: 'forbidden' });
      };
      whole('list', 'GET', coll);
      whole('watch', 'GET', `${coll}?watch=1`);
      whole('deletecollection', 'DELETE', coll);
      if (def.namespaced)
        whole(
          'list',
          'GET',
          `/${def.group === '' ? 'api' : `apis/${def.group}`}/${def.version}/${def.plural}`,
        );
    }
    return cases;
  }

  it('allows a device only its own Mailbox and Device reads and status writes, for every kind and verb', async () => {
    const before = await snapshot(admin, B);
    const cases = matrix();
    assert.ok(cases.length > 100, `the matrix has ${cases.length} cases`);
    const wrong: string[] = [];
    for (const c of cases) {
      const body = c.body ? await c.body() : undefined;
      const answer = await deviceA.request(c.method, c.path, { body, contentType: c.contentType });
      const got: Expect = answer.status === 403 ? 'forbidden' : 'allowed';
      if (got !== c.expect || answer.status >= 300) {
        if (c.expect === 'forbidden' && answer.status === 403) {
          const status = answer.json();
          if (status.reason !== 'Forbidden' || !status.message.includes(`User "${USER_A}" cannot`))
            wrong.push(`${c.what}: 403 without the apiserver's Status: ${answer.text}`);
          continue;
        }
        wrong.push(`${c.what}: expected ${c.expect}, got ${answer.status} ${answer.text.slice(0, 200)}`);
      }
    }
    assert.deepEqual(wrong, []);
    // Nothing of B's changed, and nothing was created under either name.
    assert.deepEqual(await snapshot(admin, B), before);
    for (const def of ALL_KINDS.filter(
      (d) => !REVIEW_KINDS.includes(d) && d.plural !== 'devices' && d.plural !== 'mailboxes',
    )) {
      for (const name of [A, B])
        assert.equal(
          (await admin.request('GET', `${collection(def)}/${name}`)).status,
          404,
          `${def.plural}/${name}`,
        );
    }
  });

  it('lists and watches only with a field selector pinning its own name', async () => {
    const mailboxes = '/apis/outpost.dev/v1alpha1/mailboxes';
    const list = await deviceA.request('GET', `${mailboxes}?fieldSelector=metadata.name=${A}`);
    assert.equal(list.status, 200);
    assert.deepEqual(
      list.json().items.map((item: { metadata: { name: string } }) => item.metadata.name),
      [A],
    );
    const watch = await deviceA.request(
      'GET',
      `/apis/outpost.dev/v1alpha1/watch/mailboxes/${A}?timeoutSeconds=1`,
    );
    assert.equal(watch.status, 200);
    assert.match(watch.text, /"ADDED"/);
    for (const path of [
      `${mailboxes}?fieldSelector=metadata.name=${A},metadata.name=${B}`,
      `${mailboxes}?fieldSelector=metadata.name!=${B}`,
      `${mailboxes}?fieldSelector=metadata.name=${A}&fieldSelector=metadata.name=${B}`,
      `/apis/outpost.dev/v1alpha1/watch/mailboxes/${B}`,
      `${mailboxes}/${B}?watch=1`,
      `/apis/outpost.dev/v1alpha1/mailboxes%2F${B}`,
    ]) {
      assert.equal((await deviceA.request('GET', path)).status, 403, path);
    }
  });

  it('keeps labels, annotations and spec (approval) when a device writes its status', async () => {
    const path = `/apis/outpost.dev/v1alpha1/devices/${A}`;
    const before = (await admin.request('GET', path)).json();
    const patch = {
      metadata: { labels: { site: 'elsewhere', team: 'b' }, annotations: { a: 'b' } },
      spec: { approved: false, heartbeat: { periodSeconds: 1 } },
      status: { phase: 'Online' },
    };
    const merged = await deviceA.request('PATCH', `${path}/status`, {
      body: patch,
      contentType: 'application/merge-patch+json',
    });
    assert.equal(merged.status, 200, merged.text);
    const live = (await admin.request('GET', path)).json();
    const put = await deviceA.request('PUT', `${path}/status`, {
      body: { ...live, ...patch, metadata: { ...live.metadata, ...patch.metadata } },
    });
    assert.equal(put.status, 200, put.text);
    const applied = await deviceA.request('PATCH', `${path}/status?fieldManager=agent&force=true`, {
      body: JSON.stringify({
        apiVersion: 'outpost.dev/v1alpha1',
        kind: 'Device',
        metadata: { name: A, labels: { x: 'y' } },
        spec: { approved: false },
        status: { phase: 'Online' },
      }),
      contentType: 'application/apply-patch+yaml',
    });
    assert.equal(applied.status, 200, applied.text);
    const after = (await admin.request('GET', path)).json();
    assert.deepEqual(after.metadata.labels, before.metadata.labels);
    assert.equal(after.metadata.annotations, before.metadata.annotations);
    assert.deepEqual(after.spec, before.spec);
    assert.equal(after.status.phase, 'Online');
    // Its own Device, main resource: never writable.
    const relabel = await deviceA.request('PATCH', path, {
      body: patch,
      contentType: 'application/merge-patch+json',
    });
    assert.equal(relabel.status, 403);
  });

  it("refuses a device's status writes to the fields only the hub writes, which the hub keeps writing", async () => {
    const path = `/apis/outpost.dev/v1alpha1/devices/${A}`;
    const merge = 'application/merge-patch+json';
    // What the hub records when it issues a certificate and enrolls a device (here: an admin, as the hub could).
    const owned = {
      certificate: { notAfter: '2030-01-01T00:00:00Z' },
      objectStorage: { location: 'file:///var/lib/outpost/uploads/', prefix: `devices/${A}/` },
    };
    const set = await admin.request('PATCH', `${path}/status`, {
      body: { status: owned },
      contentType: merge,
    });
    assert.equal(set.status, 200, set.text);
    const refused = async (status: Record<string, unknown>, field: string) => {
      const answer = await deviceA.request('PATCH', `${path}/status`, {
        body: { status },
        contentType: merge,
      });
      assert.equal(answer.status, 422, `${field}: ${answer.text}`);
      const causes = answer.json().details.causes as { field: string; reason: string }[];
      assert.deepEqual(
        causes.map((cause) => [cause.field, cause.reason]),
        [[field, 'FieldValueForbidden']],
      );
    };
    // A certificate that looks fresh, uploads pointed elsewhere, another parent's proxy: all refused.
    await refused({ certificate: { notAfter: '2099-01-01T00:00:00Z' } }, 'status.certificate');
    await refused({ objectStorage: null }, 'status.objectStorage');
    await refused({ nested: { hubProxy: 'http://10.9.9.9:3128' } }, 'status.nested');
    // Replacing the whole status drops them: refused too.
    const live = (await admin.request('GET', path)).json();
    const put = await deviceA.request('PUT', `${path}/status`, {
      body: { ...live, status: { phase: 'Online' } },
    });
    assert.equal(put.status, 422, put.text);
    // What its agent sends with every heartbeat passes, and leaves them as the hub wrote them.
    const beat = await deviceA.request('PATCH', `${path}/status`, {
      body: {
        status: { phase: 'Online', lastHeartbeatTime: new Date().toISOString(), system: { hostname: A } },
      },
      contentType: merge,
    });
    assert.equal(beat.status, 200, beat.text);
    const after = (await admin.request('GET', path)).json();
    assert.deepEqual(after.status.certificate, owned.certificate);
    assert.deepEqual(after.status.objectStorage, owned.objectStorage);
    assert.equal(after.status.system.hostname, A);
  });

  it('serves discovery, OpenAPI and the self-reviews to a device, and nothing else off the resource paths', async () => {
    for (const path of [
      '/api',
      '/api/v1',
      '/apis',
      '/apis/outpost.dev',
      '/apis/outpost.dev/v1alpha1',
      '/openapi/v2',
      '/openapi/v3',
      '/version',
      '/healthz',
    ]) {
      assert.equal((await deviceA.request('GET', path)).status, 200, path);
    }
    assert.equal((await deviceA.request('GET', '/debug/pprof')).status, 403);
    const review = async (name: string) =>
      (
        await deviceA.request('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
          body: {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SelfSubjectAccessReview',
            spec: { resourceAttributes: { verb: 'get', group: 'outpost.dev', resource: 'mailboxes', name } },
          },
        })
      ).json().status.allowed;
    assert.equal(await review(A), true);
    assert.equal(await review(B), false);
    const whoami = await deviceA.request('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    });
    assert.equal(whoami.status, 201);
    assert.deepEqual(whoami.json().status.userInfo, {
      username: USER_A,
      groups: ['outpost:devices', 'system:authenticated'],
    });
  });
});

/**
 * What a device could change of B's: its Device as stored (resourceVersion included), and its
 * Mailbox's metadata and status (the hub's controllers own the Mailbox spec and may rewrite it).
 */
async function snapshot(admin: ApiClient, name: string): Promise<unknown[]> {
  const device = (await admin.request('GET', `/apis/outpost.dev/v1alpha1/devices/${name}`)).json();
  const mailbox = (await admin.request('GET', `/apis/outpost.dev/v1alpha1/mailboxes/${name}`)).json();
  const { resourceVersion: _rv, generation: _g, managedFields: _m, ...meta } = mailbox.metadata;
  return [device, meta, mailbox.status];
}

/**
 * A kubeconfig for a device, as enrollment would issue it: a P-256 key and a
 * certificate from the hub's CA naming the device (CN, group) and its
 * Device's uid (URI SAN).
 */
async function deviceKubeconfig(hub: HubProcess, name: string, uid: string): Promise<string> {
  const credentials = await issueDeviceCertificate(hub, name, uid);
  const path = join(hub.dataDir, `${name}.kubeconfig`);
  await writeKubeconfig(path, {
    server: hub.url,
    caCert: credentials.ca,
    clientCert: credentials.cert,
    clientKey: credentials.key,
    user: name,
  });
  return path;
}
