import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fastify, { type FastifyInstance } from 'fastify';
import { ALL_KINDS, KindRegistry } from '../../../api/index.ts';
import { aggregatedDiscoveryMediaType, discoveryRoutes, negotiateDiscovery } from './routes.ts';

/** The API groups the hub serves besides the core group, Outpost's own first. */
const GROUPS = [
  'outpost.dev',
  'coordination.k8s.io',
  'events.k8s.io',
  'rbac.authorization.k8s.io',
  'authorization.k8s.io',
  'authentication.k8s.io',
];

const V2 = aggregatedDiscoveryMediaType('v2');
const V2BETA1 = aggregatedDiscoveryMediaType('v2beta1');
/** What kubectl 1.32 sends for `/api` and `/apis`. */
const KUBECTL_ACCEPT = `${V2},${V2BETA1},application/json`;

interface ResourceEntry {
  name: string;
  singularName: string;
  namespaced: boolean;
  kind: string;
  verbs: string[];
  shortNames?: string[];
  categories?: string[];
  storageVersionHash?: string;
}

interface DiscoveredResource {
  resource: string;
  responseKind: { group: string; version: string; kind: string };
  scope: string;
  singularResource: string;
  verbs: string[];
  shortNames?: string[];
  categories?: string[];
  subresources?: Array<{ subresource: string; responseKind: object; verbs: string[] }>;
}

interface DiscoveryList {
  kind: string;
  apiVersion: string;
  items: Array<{
    metadata: { name?: string };
    versions: Array<{ version: string; resources: DiscoveredResource[]; freshness: string }>;
  }>;
}

describe('discovery', () => {
  let app: FastifyInstance;

  before(async () => {
    app = fastify();
    await app.register(discoveryRoutes, { registry: new KindRegistry(ALL_KINDS), version: '0.1.0' });
    // The resource routes live beside discovery in the hub; their wildcards must not shadow it.
    app.get('/api/v1/*', async () => 'resource');
    app.get('/apis/:group/:version/*', async () => 'resource');
    await app.ready();
  });

  after(() => app.close());

  const get = (url: string, accept?: string) =>
    app.inject({ method: 'GET', url, headers: accept === undefined ? {} : { accept } });

  it('answers /version with a Kubernetes 1.32 version.Info carrying the Outpost version', async () => {
    const response = await get('/version');
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers['content-type'], 'application/json');
    const info = response.json();
    assert.equal(info.major, '1');
    assert.equal(info.minor, '32');
    assert.equal(info.gitVersion, 'v1.32.0-outpost.0.1.0');
    assert.match(info.platform, /^[a-z0-9]+\/[a-z0-9]+$/);
  });

  it('answers /api with APIVersions listing v1 when plain JSON is asked', async () => {
    const response = await get('/api', 'application/json');
    assert.equal(response.headers['content-type'], 'application/json');
    const body = response.json();
    assert.equal(body.kind, 'APIVersions');
    assert.deepEqual(body.versions, ['v1']);
    assert.equal(body.serverAddressByClientCIDRs[0].clientCIDR, '0.0.0.0/0');
  });

  it('lists the core kinds with their verbs, short names and status subresources in /api/v1', async () => {
    const response = await get('/api/v1');
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers['content-type'], 'application/json');
    const body = response.json() as { kind: string; groupVersion: string; resources: ResourceEntry[] };
    assert.equal(body.kind, 'APIResourceList');
    assert.equal(body.groupVersion, 'v1');
    const byName = new Map(body.resources.map((resource) => [resource.name, resource]));
    assert.deepEqual([...byName.keys()].sort(), [
      'configmaps',
      'events',
      'namespaces',
      'namespaces/status',
      'secrets',
    ]);
    const configMaps = byName.get('configmaps');
    assert.deepEqual(configMaps?.verbs, [
      'create',
      'delete',
      'deletecollection',
      'get',
      'list',
      'patch',
      'update',
      'watch',
    ]);
    assert.deepEqual(configMaps?.shortNames, ['cm']);
    assert.equal(configMaps?.singularName, 'configmap');
    assert.equal(configMaps?.namespaced, true);
    assert.equal(configMaps?.kind, 'ConfigMap');
    assert.match(configMaps?.storageVersionHash ?? '', /^[A-Za-z0-9+/]{11}=$/);
    assert.equal(byName.get('secrets')?.shortNames, undefined, 'a kind without short names lists none');
    assert.deepEqual(byName.get('namespaces/status'), {
      name: 'namespaces/status',
      singularName: '',
      namespaced: false,
      kind: 'Namespace',
      verbs: ['get', 'patch', 'update'],
    });
  });

  it('answers /apis with the groups but not the core group', async () => {
    const response = await get('/apis', 'application/json, */*');
    const body = response.json();
    assert.equal(body.kind, 'APIGroupList');
    assert.deepEqual(
      body.groups.map((group: { name: string }) => group.name),
      GROUPS,
    );
    assert.deepEqual(body.groups[0], {
      name: 'outpost.dev',
      versions: [{ groupVersion: 'outpost.dev/v1alpha1', version: 'v1alpha1' }],
      preferredVersion: { groupVersion: 'outpost.dev/v1alpha1', version: 'v1alpha1' },
    });
  });

  it('answers /apis/GROUP with an APIGroup and /apis/GROUP/VERSION with its resources', async () => {
    const group = (await get('/apis/outpost.dev')).json();
    assert.equal(group.kind, 'APIGroup');
    assert.equal(group.preferredVersion.version, 'v1alpha1');
    const list = (await get('/apis/outpost.dev/v1alpha1')).json() as {
      groupVersion: string;
      resources: ResourceEntry[];
    };
    assert.equal(list.groupVersion, 'outpost.dev/v1alpha1');
    const workloads = list.resources.find((resource) => resource.name === 'workloads');
    assert.deepEqual(workloads?.shortNames, ['wl']);
    assert.deepEqual(workloads?.categories, ['all', 'outpost']);
    assert.equal(workloads?.namespaced, true);
    const devices = list.resources.find((resource) => resource.name === 'devices');
    assert.equal(devices?.namespaced, false);
    assert.ok(list.resources.some((resource) => resource.name === 'devices/status'));
  });

  it('answers 404 with a Status for an unknown group or version', async () => {
    for (const url of ['/apis/nope.dev', '/apis/outpost.dev/v9', '/api/v2']) {
      const response = await get(url);
      assert.equal(response.statusCode, 404, url);
      assert.equal(response.json().kind, 'Status');
      assert.equal(response.json().reason, 'NotFound');
    }
  });

  it('answers every document with a trailing slash as without one, as the apiserver does', async () => {
    for (const url of [
      '/version',
      '/api',
      '/apis',
      '/api/v1',
      '/apis/outpost.dev',
      '/apis/outpost.dev/v1alpha1',
      '/apis/rbac.authorization.k8s.io/v1',
    ]) {
      const plain = await get(url);
      const slashed = await get(`${url}/`);
      assert.equal(slashed.statusCode, 200, `${url}/: ${slashed.body}`);
      assert.equal(slashed.headers['content-type'], plain.headers['content-type'], `${url}/`);
      assert.equal(slashed.body, plain.body, `${url}/`);
    }
    const aggregated = await get('/apis/', KUBECTL_ACCEPT);
    assert.equal(aggregated.headers['content-type'], V2);
    assert.equal(aggregated.json().kind, 'APIGroupDiscoveryList');
  });

  it('answers aggregated discovery v2 to what kubectl sends, with exactly the negotiated content type', async () => {
    const response = await get('/apis', KUBECTL_ACCEPT);
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers['content-type'], V2);
    assert.equal(response.headers.vary, 'Accept');
    const body = response.json() as DiscoveryList;
    assert.equal(body.kind, 'APIGroupDiscoveryList');
    assert.equal(body.apiVersion, 'apidiscovery.k8s.io/v2');
    assert.deepEqual(
      body.items.map((item) => item.metadata.name),
      GROUPS,
    );
    const version = body.items[0]?.versions[0];
    assert.equal(version?.version, 'v1alpha1');
    assert.equal(version?.freshness, 'Current');
    const workloads = version?.resources.find((resource) => resource.resource === 'workloads');
    assert.deepEqual(workloads, {
      resource: 'workloads',
      responseKind: { group: 'outpost.dev', version: 'v1alpha1', kind: 'Workload' },
      scope: 'Namespaced',
      singularResource: 'workload',
      verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
      shortNames: ['wl'],
      categories: ['all', 'outpost'],
      subresources: [
        {
          subresource: 'status',
          responseKind: { group: 'outpost.dev', version: 'v1alpha1', kind: 'Workload' },
          verbs: ['get', 'patch', 'update'],
        },
      ],
    });
    const devices = version?.resources.find((resource) => resource.resource === 'devices');
    assert.equal(devices?.scope, 'Cluster');
  });

  it('answers the core group alone, unnamed, in aggregated /api', async () => {
    const response = await get('/api', KUBECTL_ACCEPT);
    assert.equal(response.headers['content-type'], V2);
    const body = response.json() as DiscoveryList;
    assert.equal(body.items.length, 1);
    assert.equal(body.items[0]?.metadata.name, undefined);
    const resources = body.items[0]?.versions[0]?.resources ?? [];
    assert.deepEqual(
      resources.map((resource) => resource.resource),
      ['configmaps', 'events', 'namespaces', 'secrets'],
    );
    assert.equal(resources.find((resource) => resource.resource === 'configmaps')?.subresources, undefined);
  });

  it('answers v2beta1 when only v2beta1 is asked', async () => {
    const response = await get('/apis', `${V2BETA1},application/json`);
    assert.equal(response.headers['content-type'], V2BETA1);
    assert.equal(response.json().apiVersion, 'apidiscovery.k8s.io/v2beta1');
  });

  it('answers 406 with a Status when no served media type is acceptable', async () => {
    const response = await get('/apis', 'application/vnd.kubernetes.protobuf');
    assert.equal(response.statusCode, 406);
    assert.equal(response.headers['content-type'], 'application/json');
    assert.equal(response.json().reason, 'NotAcceptable');
  });

  it('answers 304 to a request carrying the current ETag', async () => {
    const first = await get('/apis', KUBECTL_ACCEPT);
    const etag = first.headers.etag as string;
    const second = await app.inject({
      method: 'GET',
      url: '/apis',
      headers: { accept: KUBECTL_ACCEPT, 'if-none-match': etag },
    });
    assert.equal(second.statusCode, 304);
  });

  it('leaves deeper URLs to the resource routes', async () => {
    assert.equal((await get('/api/v1/configmaps')).body, 'resource');
    assert.equal((await get('/apis/outpost.dev/v1alpha1/workloads')).body, 'resource');
  });
});

describe('negotiateDiscovery', () => {
  it('follows the client order and quality', () => {
    assert.deepEqual(negotiateDiscovery(undefined), { aggregated: false });
    assert.deepEqual(negotiateDiscovery(`application/json,${V2}`), { aggregated: false });
    assert.deepEqual(negotiateDiscovery(`application/json;q=0.5,${V2}`), { aggregated: 'v2' });
    assert.deepEqual(
      negotiateDiscovery('application/json;g=apidiscovery.k8s.io;v=v9;as=APIGroupDiscoveryList'),
      undefined,
    );
    assert.deepEqual(
      negotiateDiscovery(`application/json; as=APIGroupDiscoveryList; v="v2"; g=apidiscovery.k8s.io`),
      { aggregated: 'v2' },
    );
    assert.deepEqual(negotiateDiscovery('application/json;as=Table;v=v1;g=meta.k8s.io'), undefined);
  });
});
