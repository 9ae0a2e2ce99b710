/**
 * Deeply nested bodies: every route that reads a body refuses one nesting deeper than
 * MAX_NESTING_DEPTH with a 400 Status before anything walks it, whatever the route and the media
 * type, and nothing deeper than that can be made by patching either. Nothing answers 5xx: random
 * deep, wide and large values (fast-check) on every route get a Status or are written.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { MAX_NESTING_DEPTH } from '../../src/hub/kube-api/index.ts';
import {
  assertServing,
  call,
  type InProcessHub,
  recordWrites,
  startInProcessHub,
} from '../support/in-process/index.ts';

const NS = 'deep';
const CONFIGMAPS = `/api/v1/namespaces/${NS}/configmaps`;
const WORKLOADS = `/apis/outpost.dev/v1alpha1/namespaces/${NS}/workloads`;

/** JSON text of objects nested `depth` levels: `{"a":{"a":...{}}}`. */
const objects = (depth: number) => `${'{"a":'.repeat(depth - 1)}{}${'}'.repeat(depth - 1)}`;
/** JSON (and YAML flow) text of arrays nested `depth` levels: `[[...[]]]`. */
const arrays = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

/** A body for each route whose value at one place nests `inner` levels (the whole body a few more). */
const ROUTES: ReadonlyArray<{
  readonly name: string;
  readonly method: 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  readonly url: string;
  readonly contentType: string;
  readonly body: (inner: string) => string;
}> = [
  {
    name: 'create',
    method: 'POST',
    url: CONFIGMAPS,
    contentType: 'application/json',
    body: (inner) => `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"extra":${inner}}`,
  },
  {
    name: 'create (YAML)',
    method: 'POST',
    url: CONFIGMAPS,
    contentType: 'application/yaml',
    body: (inner) => `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\nextra: ${inner}\n`,
  },
  {
    name: 'create of a Workload',
    method: 'POST',
    url: WORKLOADS,
    contentType: 'application/json',
    body: (inner) =>
      `{"apiVersion":"outpost.dev/v1alpha1","kind":"Workload","metadata":{"name":"w"},"spec":{"resources":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":${inner}}]}}`,
  },
  {
    name: 'update',
    method: 'PUT',
    url: `${CONFIGMAPS}/target`,
    contentType: 'application/json',
    body: (inner) => `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"target"},"data":${inner}}`,
  },
  {
    name: 'status update',
    method: 'PUT',
    url: `${WORKLOADS}/target/status`,
    contentType: 'application/json',
    body: (inner) =>
      `{"apiVersion":"outpost.dev/v1alpha1","kind":"Workload","metadata":{"name":"target"},"status":${inner}}`,
  },
  {
    name: 'merge patch',
    method: 'PATCH',
    url: `${CONFIGMAPS}/target`,
    contentType: 'application/merge-patch+json',
    body: (inner) => `{"metadata":{"labels":${inner}}}`,
  },
  {
    name: 'merge patch of status',
    method: 'PATCH',
    url: `${WORKLOADS}/target/status`,
    contentType: 'application/merge-patch+json',
    body: (inner) => `{"status":${inner}}`,
  },
  {
    name: 'JSON patch',
    method: 'PATCH',
    url: `${CONFIGMAPS}/target`,
    contentType: 'application/json-patch+json',
    body: (inner) => `[{"op":"add","path":"/x","value":${inner}}]`,
  },
  {
    name: 'strategic merge patch',
    method: 'PATCH',
    url: `${CONFIGMAPS}/target`,
    contentType: 'application/strategic-merge-patch+json',
    body: (inner) => `{"data":${inner}}`,
  },
  {
    name: 'apply',
    method: 'PATCH',
    url: `${CONFIGMAPS}/target?fieldManager=deep`,
    contentType: 'application/apply-patch+yaml',
    body: (inner) => `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"target"},"data":${inner}}`,
  },
  {
    name: 'delete with DeleteOptions',
    method: 'DELETE',
    url: `${CONFIGMAPS}/target`,
    contentType: 'application/json',
    body: (inner) => `{"kind":"DeleteOptions","apiVersion":"v1","preconditions":${inner}}`,
  },
  {
    name: 'deletecollection with DeleteOptions',
    method: 'DELETE',
    url: `${CONFIGMAPS}?labelSelector=none`,
    contentType: 'application/json',
    body: (inner) => `{"kind":"DeleteOptions","apiVersion":"v1","dryRun":${inner}}`,
  },
  {
    name: 'access review',
    method: 'POST',
    url: '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
    contentType: 'application/json',
    body: (inner) =>
      `{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":{"resourceAttributes":${inner}}}`,
  },
  {
    name: 'enrollment',
    method: 'POST',
    url: '/enroll',
    contentType: 'application/json',
    body: (inner) => `{"token":"abcdef.0123456789abcdef","name":"gw","csr":"x","labels":${inner}}`,
  },
  {
    name: 'enrollment poll',
    method: 'POST',
    url: '/enroll/poll',
    contentType: 'application/json',
    body: (inner) => `{"name":"gw","time":"2026-01-01T00:00:00Z","signature":${inner}}`,
  },
  {
    name: 'enrollment renewal',
    method: 'POST',
    url: '/enroll/renew',
    contentType: 'application/json',
    body: (inner) => `{"csr":${inner}}`,
  },
  {
    name: 'telemetry command',
    method: 'POST',
    url: `/apis/outpost.dev/v1alpha1/namespaces/${NS}/opcuaconnectors/plc/commands`,
    contentType: 'application/json',
    body: (inner) => `{"feature":"setpoint","value":${inner}}`,
  },
];

let hub: InProcessHub;

before(async () => {
  hub = await startInProcessHub({ enrollment: true, telemetry: true });
  const created = await Promise.all([
    call(hub.app, {
      method: 'POST',
      url: '/api/v1/namespaces',
      payload: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
    }),
  ]);
  assert.equal(created[0]!.status, 201, created[0]!.text);
  for (const [url, object] of [
    [CONFIGMAPS, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'target' }, data: { a: 'b' } }],
    [
      WORKLOADS,
      {
        apiVersion: 'outpost.dev/v1alpha1',
        kind: 'Workload',
        metadata: { name: 'target' },
        spec: {
          resources: [
            { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } },
            {
              apiVersion: 'v1',
              kind: 'Pod',
              metadata: { name: 'p' },
              spec: { containers: [{ name: 'c', image: 'busybox' }] },
            },
          ],
        },
      },
    ],
  ] as const) {
    const answer = await call(hub.app, { method: 'POST', url, payload: object });
    assert.equal(answer.status, 201, answer.text);
  }
});

after(async () => {
  await hub?.close();
});

async function send(route: (typeof ROUTES)[number], inner: string) {
  return call(hub.app, {
    method: route.method,
    url: route.url,
    payload: route.body(inner),
    headers: { 'content-type': route.contentType },
  });
}

describe('bodies nested deeper than the limit', () => {
  for (const route of ROUTES) {
    test(`${route.name}: refused with a 400 Status naming the limit, writing nothing`, async () => {
      for (const inner of [objects(MAX_NESTING_DEPTH + 1), arrays(10_000), arrays(1_000_000)]) {
        const recorder = await recordWrites(hub.store);
        const answer = await send(route, inner);
        assert.equal(answer.status, 400, `${route.name}: ${answer.text.slice(0, 300)}`);
        assert.match(answer.body.message, new RegExp(`deeper than ${MAX_NESTING_DEPTH} levels`));
        await recorder.assertUnchanged(route.name);
      }
    });
  }

  test('a YAML body nested in block style as deep as fits the size limit is refused with a 400', async () => {
    let yaml = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: blocky}\nextra:\n';
    for (let level = 1; level <= 2300; level++) yaml += `${' '.repeat(level)}a:\n`;
    const answer = await call(hub.app, {
      method: 'POST',
      url: CONFIGMAPS,
      payload: `${yaml}${' '.repeat(2301)}b: 1\n`,
      headers: { 'content-type': 'application/yaml' },
    });
    assert.equal(answer.status, 400, answer.text.slice(0, 300));
  });
});

describe('bodies nested up to the limit', () => {
  for (const route of ROUTES) {
    test(`${route.name}: answered without a server error`, async () => {
      // The body's own levels around the value count too: the whole stays within the limit.
      const answer = await send(route, objects(MAX_NESTING_DEPTH - 6));
      assert.ok(answer.status < 500, answer.text.slice(0, 300));
    });
  }
});

test('a JSON patch that would nest the object deeper than the limit is refused with a 400', async () => {
  // Each patch is within the limit, but the second adds a deep value below the deep value the
  // first one left (an embedded Pod's status is kept as written, so the first is stored).
  const half = Math.floor(MAX_NESTING_DEPTH / 2);
  const first = await call(hub.app, {
    method: 'PATCH',
    url: `${WORKLOADS}/target`,
    payload: `[{"op":"add","path":"/spec/resources/1/status","value":${objects(half)}}]`,
    headers: { 'content-type': 'application/json-patch+json' },
  });
  assert.equal(first.status, 200, first.text.slice(0, 300));
  const recorder = await recordWrites(hub.store);
  const second = await call(hub.app, {
    method: 'PATCH',
    url: `${WORKLOADS}/target`,
    payload: `[{"op":"add","path":"/spec/resources/1/status${'/a'.repeat(half - 1)}/b","value":${objects(half)}}]`,
    headers: { 'content-type': 'application/json-patch+json' },
  });
  assert.equal(second.status, 400, second.text.slice(0, 300));
  assert.match(
    second.body.message,
    new RegExp(`the patched object nests .* deeper than ${MAX_NESTING_DEPTH}`),
  );
  await recorder.assertUnchanged('the deepening JSON patch');
});

/** Random runs per route (`API_PROPERTY_RUNS` sets the property tests' count). */
const RUNS = Math.max(5, Math.round(Number(process.env.API_PROPERTY_RUNS ?? 300) / 10));

/** Values nested up to 3,000 levels of objects and arrays in a random pattern, with a random leaf. */
const deepArb = fc
  .record({
    depth: fc.integer({ min: 1, max: 3000 }),
    pattern: fc.array(fc.constantFrom('object', 'array', 'key'), { minLength: 1, maxLength: 4 }),
    leaf: fc.jsonValue({ maxDepth: 1 }),
  })
  .map(({ depth, pattern, leaf }) => {
    let open = '';
    let close = '';
    for (let level = 0; level < depth; level++) {
      const shape = pattern[level % pattern.length];
      open += shape === 'array' ? '[' : shape === 'key' ? `{"k${level}":` : '{"a":';
      close = (shape === 'array' ? ']' : '}') + close;
    }
    return `${open}${JSON.stringify(leaf) ?? 'null'}${close}`;
  });

/** Objects with up to 30,000 keys, arrays with up to 200,000 items, keys up to 64 KiB long. */
const wideArb = fc
  .record({
    width: fc.integer({ min: 0, max: 200_000 }),
    shape: fc.constantFrom('object', 'array', 'long keys'),
    item: fc.constantFrom('0', '"v"', 'null', '{}', '[]', '{"a":[1,{"b":"c"}]}'),
  })
  .map(({ width, shape, item }) => {
    if (shape === 'array') return `[${Array(width).fill(item).join(',')}]`;
    if (shape === 'long keys')
      return `{${Array.from({ length: Math.min(width, 40) }, (_, i) => `"${String(i).padEnd(1 + (width % 65_536), 'k')}":${item}`).join(',')}}`;
    return `{${Array.from({ length: Math.min(width, 30_000) }, (_, i) => `"k${i}":${item}`).join(',')}}`;
  });

/** Strings up to 4 MiB (the body limit is 3 MiB), of ASCII or of multi-byte characters. */
const largeArb = fc
  .record({
    length: fc.integer({ min: 0, max: 4 * 1024 * 1024 }),
    unit: fc.constantFrom('x', 'é', '\\u0000', '😀'),
  })
  .map(({ length, unit }) => `"${unit.repeat(Math.ceil(length / unit.length / 2))}"`);

const valueArb = fc.oneof(deepArb, wideArb, largeArb, fc.json({ maxDepth: 6 }));

describe('random deep, wide and large values on every route', () => {
  for (const route of ROUTES) {
    test(`${route.name}: a Status or a write, never a server error`, async () => {
      await fc.assert(
        fc.asyncProperty(valueArb, async (inner) => {
          // `call` fails the run on a 5xx or an answer that is not JSON, an error that is no Status.
          const answer = await send(route, inner);
          assert.ok(answer.status < 500, `${route.name}: ${answer.text.slice(0, 300)}`);
        }),
        { numRuns: RUNS, includeErrorInReport: true },
      );
      await assertServing(hub.app);
    });
  }
});
