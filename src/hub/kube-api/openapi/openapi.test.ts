import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fastify, { type FastifyInstance } from 'fastify';
import { ALL_KINDS, KindRegistry } from '../../../api/index.ts';
import { openApiRoutes } from './routes.ts';

type Json = Record<string, unknown>;

const PROTOBUF = 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf';
const WORKLOAD = 'dev.outpost.v1alpha1.Workload';
const CONFIG_MAP = 'io.k8s.api.core.v1.ConfigMap';
const OBJECT_META = 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta';
const JSON_SCHEMA_ONLY = ['const', 'patternProperties', '$id', '$schema', 'prefixItems'];

/** Every `$ref` in a document, and every key of JSON Schema that OpenAPI does not have. */
function scan(value: unknown, found: { refs: string[]; foreign: string[] } = { refs: [], foreign: [] }) {
  if (Array.isArray(value)) {
    for (const item of value) scan(item, found);
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, inner] of Object.entries(value)) {
      if (key === '$ref' && typeof inner === 'string') found.refs.push(inner);
      if (JSON_SCHEMA_ONLY.includes(key)) found.foreign.push(key);
      scan(inner, found);
    }
  }
  return found;
}

/** The schema at a property path, failing the test when a step is missing. */
function property(schema: Json | undefined, ...names: string[]): Json {
  let current = schema;
  for (const name of names) {
    current = (current?.properties as Record<string, Json> | undefined)?.[name];
    assert.ok(current, `property ${name}`);
  }
  assert.ok(current);
  return current;
}

describe('OpenAPI', () => {
  let app: FastifyInstance;

  before(async () => {
    app = fastify();
    await app.register(openApiRoutes, { registry: new KindRegistry(ALL_KINDS) });
    await app.ready();
  });

  after(() => app.close());

  const get = (url: string, accept = 'application/json') =>
    app.inject({ method: 'GET', url, headers: { accept } });

  async function v3(path: string): Promise<Json> {
    const index = (await get('/openapi/v3')).json() as {
      paths: Record<string, { serverRelativeURL: string }>;
    };
    const url = index.paths[path]?.serverRelativeURL;
    assert.ok(url, `the index lists ${path}`);
    const response = await get(url);
    assert.equal(response.statusCode, 200);
    return response.json();
  }

  describe('v2', () => {
    it('serves a Swagger 2.0 document with definitions named as the apiserver names them', async () => {
      const response = await get('/openapi/v2');
      assert.equal(response.statusCode, 200);
      assert.equal(response.headers['content-type'], 'application/json');
      const document = response.json() as { swagger: string; definitions: Record<string, Json>; paths: Json };
      assert.equal(document.swagger, '2.0');
      for (const name of [
        WORKLOAD,
        `${WORKLOAD}List`,
        CONFIG_MAP,
        'dev.outpost.v1alpha1.Device',
        OBJECT_META,
      ]) {
        assert.ok(document.definitions[name], name);
      }
      assert.deepEqual(document.definitions[WORKLOAD]?.['x-kubernetes-group-version-kind'], [
        { group: 'outpost.dev', kind: 'Workload', version: 'v1alpha1' },
      ]);
      assert.deepEqual(document.definitions[CONFIG_MAP]?.['x-kubernetes-group-version-kind'], [
        { group: '', kind: 'ConfigMap', version: 'v1' },
      ]);
      const metadata = property(document.definitions[WORKLOAD], 'metadata');
      assert.equal(metadata.$ref, `#/definitions/${OBJECT_META}`);
      const { refs, foreign } = scan(document);
      assert.deepEqual(foreign, []);
      for (const ref of refs)
        assert.ok(document.definitions[ref.replace('#/definitions/', '')], `${ref} resolves`);
      assert.ok(document.paths['/apis/outpost.dev/v1alpha1/namespaces/{namespace}/workloads/{name}']);
    });

    it('answers JSON to a client that prefers protobuf but accepts JSON', async () => {
      const response = await get('/openapi/v2', `${PROTOBUF}, application/json`);
      assert.equal(response.statusCode, 200);
      assert.equal(response.headers['content-type'], 'application/json');
    });

    it('answers 406 to a client that accepts only protobuf', async () => {
      const response = await get('/openapi/v2', PROTOBUF);
      assert.equal(response.statusCode, 406);
      assert.equal(response.json().reason, 'NotAcceptable');
    });
  });

  describe('v3', () => {
    it('indexes one document per group version, addressed by a content hash', async () => {
      const response = await get('/openapi/v3');
      assert.equal(response.headers['content-type'], 'application/json');
      const index = response.json() as { paths: Record<string, { serverRelativeURL: string }> };
      assert.deepEqual(Object.keys(index.paths).sort(), [
        'api/v1',
        'apis/authentication.k8s.io/v1',
        'apis/authorization.k8s.io/v1',
        'apis/coordination.k8s.io/v1',
        'apis/events.k8s.io/v1',
        'apis/outpost.dev/v1alpha1',
        'apis/rbac.authorization.k8s.io/v1',
      ]);
      assert.match(
        index.paths['api/v1']?.serverRelativeURL ?? '',
        /^\/openapi\/v3\/api\/v1\?hash=[0-9A-F]{128}$/,
      );
    });

    it('describes the kinds of its group version only, with their kind and shared ObjectMeta', async () => {
      const document = await v3('apis/outpost.dev/v1alpha1');
      assert.equal(document.openapi, '3.0.0');
      const schemas = (document.components as { schemas: Record<string, Json> }).schemas;
      assert.ok(schemas[WORKLOAD] && schemas['dev.outpost.v1alpha1.Mailbox'] && schemas[OBJECT_META]);
      assert.equal(schemas[CONFIG_MAP], undefined);
      const workload = schemas[WORKLOAD] as Json & { properties: Record<string, Json> };
      assert.match(String(workload.description), /What to run on devices/);
      assert.deepEqual(workload.properties.metadata?.allOf, [
        { $ref: `#/components/schemas/${OBJECT_META}` },
      ]);
      const resources = property(workload, 'spec', 'resources');
      assert.equal(resources.type, 'array');
      assert.match(String(resources.description), /Kubernetes objects to run/);
      assert.equal((resources.items as Json)['x-kubernetes-preserve-unknown-fields'], true);
      const { refs, foreign } = scan(document);
      assert.deepEqual(foreign, []);
      for (const ref of refs) assert.ok(schemas[ref.replace('#/components/schemas/', '')], `${ref} resolves`);
    });

    it('turns TypeBox enums into typed OpenAPI enums', async () => {
      const schemas = (
        (await v3('apis/outpost.dev/v1alpha1')).components as { schemas: Record<string, Json> }
      ).schemas;
      const phase = property(schemas['dev.outpost.v1alpha1.Device'], 'status', 'phase') as Record<
        string,
        unknown
      >;
      assert.deepEqual(phase.enum, ['Pending', 'Online', 'Unreachable']);
      assert.equal(phase.type, 'string');
    });

    it('tags every resource operation with the kind, as kubectl explain looks it up', async () => {
      const document = await v3('apis/outpost.dev/v1alpha1');
      const paths = document.paths as Record<string, Record<string, Json>>;
      const collection = paths['/apis/outpost.dev/v1alpha1/namespaces/{namespace}/workloads'];
      assert.deepEqual(collection?.get?.['x-kubernetes-group-version-kind'], {
        group: 'outpost.dev',
        kind: 'Workload',
        version: 'v1alpha1',
      });
      assert.equal(collection?.get?.['x-kubernetes-action'], 'list');
      assert.ok(
        paths['/apis/outpost.dev/v1alpha1/devices/{name}/status']?.patch,
        'cluster-scoped status path',
      );
      assert.ok(paths['/apis/outpost.dev/v1alpha1/workloads']?.get, 'list across namespaces');
    });

    it('offers server-side field validation on every PATCH, and strategic merge patch only where the hub serves it', async () => {
      const contentTypes = (document: Json, path: string) => {
        const patch = (document.paths as Record<string, Record<string, Json>>)[path]?.patch as Json;
        const names = (patch.parameters as Array<{ name: string }>).map((parameter) => parameter.name);
        assert.ok(names.includes('fieldValidation'), `${path} PATCH takes fieldValidation`);
        return Object.keys((patch.requestBody as { content: Json }).content);
      };
      const core = await v3('api/v1');
      assert.ok(
        contentTypes(core, '/api/v1/namespaces/{namespace}/configmaps/{name}').includes(
          'application/strategic-merge-patch+json',
        ),
      );
      const outpost = await v3('apis/outpost.dev/v1alpha1');
      const workloadTypes = contentTypes(
        outpost,
        '/apis/outpost.dev/v1alpha1/namespaces/{namespace}/workloads/{name}',
      );
      assert.ok(!workloadTypes.includes('application/strategic-merge-patch+json'));
      assert.ok(workloadTypes.includes('application/merge-patch+json'));
      assert.ok(workloadTypes.includes('application/apply-patch+yaml'));
    });

    it('writes the patch strategy of ObjectMeta lists as the apiserver does', async () => {
      const schemas = ((await v3('api/v1')).components as { schemas: Record<string, Json> }).schemas;
      const properties = schemas[OBJECT_META]?.properties as Record<string, Json>;
      assert.equal(properties.ownerReferences?.['x-kubernetes-patch-strategy'], 'merge');
      assert.equal(properties.ownerReferences?.['x-kubernetes-patch-merge-key'], 'uid');
      assert.equal(properties.finalizers?.['x-kubernetes-patch-strategy'], 'merge');
      assert.equal(properties.finalizers?.['x-kubernetes-list-type'], 'set');
    });

    it('redirects a stale hash to the current document and lets the current one be cached', async () => {
      const stale = await get('/openapi/v3/api/v1?hash=0123');
      assert.equal(stale.statusCode, 301);
      assert.match(String(stale.headers.location), /^\/openapi\/v3\/api\/v1\?hash=[0-9A-F]{128}$/);
      const current = await get(String(stale.headers.location));
      assert.equal(current.statusCode, 200);
      assert.match(String(current.headers['cache-control']), /immutable/);
    });

    it('answers 404 for a group version it does not serve', async () => {
      const response = await get('/openapi/v3/apis/apps/v1');
      assert.equal(response.statusCode, 404);
      assert.equal(response.json().kind, 'Status');
    });
  });
});
