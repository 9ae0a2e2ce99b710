/**
 * The API's answers to wrong requests, case by case: each is a `Status` with the apiserver's
 * code and reason, and none of them writes anything.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { InjectOptions } from 'fastify';
import { MAX_BODY_BYTES } from '../../src/hub/index.ts';
import {
  type Answer,
  call,
  type InProcessHub,
  recordWrites,
  startInProcessHub,
} from '../support/in-process/index.ts';
import { KIND_CASES, NAMESPACE } from './examples.ts';

let hub: InProcessHub;

const CONFIGMAPS = `/api/v1/namespaces/${NAMESPACE}/configmaps`;
const SECRETS = `/api/v1/namespaces/${NAMESPACE}/secrets`;
const WORKLOADS = `/apis/outpost.dev/v1alpha1/namespaces/${NAMESPACE}/workloads`;
const workloadCase = KIND_CASES.find((kindCase) => kindCase.kind === 'Workload')!;

before(async () => {
  hub = await startInProcessHub();
  const namespace = await call(hub.app, {
    method: 'POST',
    url: '/api/v1/namespaces',
    payload: { metadata: { name: NAMESPACE } },
  });
  assert.equal(namespace.status, 201, namespace.text);
});

after(async () => {
  await hub?.close();
});

/** Sends a request that must be refused with `code` and `reason` and must write nothing. */
async function refused(options: InjectOptions, code: number, reason: string): Promise<Answer> {
  const recorder = await recordWrites(hub.store);
  const answer = await call(hub.app, options);
  assert.equal(answer.status, code, answer.text);
  assert.equal(answer.body.reason, reason, answer.text);
  await recorder.assertUnchanged(`${options.method} ${options.url}`);
  return answer;
}

const json = (payload: string, contentType = 'application/json') => ({
  payload,
  headers: { 'content-type': contentType },
});

async function create(url: string, object: unknown): Promise<Answer> {
  const answer = await call(hub.app, {
    method: 'POST',
    url,
    payload: JSON.stringify(object),
    headers: { 'content-type': 'application/json' },
  });
  assert.equal(answer.status, 201, answer.text);
  return answer;
}

describe('malformed requests', () => {
  test('a body that is not JSON is a 400', async () => {
    await refused({ method: 'POST', url: CONFIGMAPS, ...json('{"metadata": {"name": ') }, 400, 'BadRequest');
    await refused({ method: 'PUT', url: `${CONFIGMAPS}/x`, ...json('not json') }, 400, 'BadRequest');
    await refused(
      { method: 'PATCH', url: `${CONFIGMAPS}/x`, ...json('{', 'application/merge-patch+json') },
      400,
      'BadRequest',
    );
  });

  test('a body that is not YAML, or more than one document, is a 400', async () => {
    await refused(
      { method: 'POST', url: CONFIGMAPS, ...json('metadata: [name: x', 'application/yaml') },
      400,
      'BadRequest',
    );
    await refused(
      {
        method: 'POST',
        url: CONFIGMAPS,
        ...json('metadata: {name: a}\n---\nmetadata: {name: b}\n', 'application/yaml'),
      },
      400,
      'BadRequest',
    );
    await refused(
      {
        method: 'PATCH',
        url: `${CONFIGMAPS}/x?fieldManager=t`,
        ...json('a: : b: [', 'application/apply-patch+yaml'),
      },
      400,
      'BadRequest',
    );
  });

  test('an empty body is a 400', async () => {
    await refused({ method: 'POST', url: CONFIGMAPS, ...json('  ') }, 400, 'BadRequest');
  });

  test('a body over 3 MiB is a 413 Status', async () => {
    const payload = JSON.stringify({ metadata: { name: 'huge' }, data: { a: 'x'.repeat(MAX_BODY_BYTES) } });
    await refused({ method: 'POST', url: CONFIGMAPS, ...json(payload) }, 413, 'RequestEntityTooLarge');
  });

  test('a create or update body in a patch or unknown media type is a 415', async () => {
    const body = JSON.stringify({ metadata: { name: 'typed' } });
    await refused(
      { method: 'POST', url: CONFIGMAPS, ...json(body, 'application/merge-patch+json') },
      415,
      'UnsupportedMediaType',
    );
    await refused(
      { method: 'POST', url: CONFIGMAPS, ...json(body, 'text/plain') },
      415,
      'UnsupportedMediaType',
    );
    await refused(
      { method: 'PUT', url: `${CONFIGMAPS}/typed`, ...json(body, 'application/x-www-form-urlencoded') },
      415,
      'UnsupportedMediaType',
    );
  });

  test('a patch in a media type that is not a patch is a 415', async () => {
    await create(CONFIGMAPS, { metadata: { name: 'patched' } });
    await refused(
      { method: 'PATCH', url: `${CONFIGMAPS}/patched`, ...json('{}') },
      415,
      'UnsupportedMediaType',
    );
  });

  test('a strategic merge patch of a custom kind is a 415', async () => {
    await create(WORKLOADS, workloadCase.example('smp'));
    await refused(
      {
        method: 'PATCH',
        url: `${WORKLOADS}/smp`,
        ...json('{"spec":{}}', 'application/strategic-merge-patch+json'),
      },
      415,
      'UnsupportedMediaType',
    );
  });
});

describe('unknown URLs and methods', () => {
  test('an unknown path is a 404 Status', async () => {
    await refused({ method: 'GET', url: '/nowhere' }, 404, 'NotFound');
    await refused({ method: 'GET', url: '/api/v1/nothings' }, 404, 'NotFound');
    await refused({ method: 'POST', url: '/apis/example.com/v1/things', ...json('{}') }, 404, 'NotFound');
    await refused({ method: 'GET', url: `${CONFIGMAPS}/x/status` }, 404, 'NotFound');
    await refused({ method: 'GET', url: `/api/v1/namespaces/${NAMESPACE}/namespaces` }, 404, 'NotFound');
  });

  test('a URL with an escaped percent sign is decoded once: a 404 for that name, not a crash', async () => {
    const answer = await refused({ method: 'GET', url: `${CONFIGMAPS}/a%25b` }, 404, 'NotFound');
    assert.equal(answer.body.details.name, 'a%b');
  });

  test('a URL with a malformed percent escape is a 400 Status', async () => {
    await refused({ method: 'GET', url: `${CONFIGMAPS}/a%zz` }, 400, 'BadRequest');
    await refused({ method: 'PUT', url: `${CONFIGMAPS}/a%E0%A4%A`, ...json('{}') }, 400, 'BadRequest');
  });

  test('a POST to a named URL is a 405', async () => {
    await refused(
      { method: 'POST', url: `${CONFIGMAPS}/named`, ...json('{"metadata":{"name":"named"}}') },
      405,
      'MethodNotAllowed',
    );
  });

  test('a PUT or PATCH of a collection is a 405', async () => {
    await refused({ method: 'PUT', url: CONFIGMAPS, ...json('{}') }, 405, 'MethodNotAllowed');
    await refused(
      { method: 'PATCH', url: CONFIGMAPS, ...json('{}', 'application/merge-patch+json') },
      405,
      'MethodNotAllowed',
    );
  });

  test('an object in a namespace that does not exist is a 404', async () => {
    await refused(
      {
        method: 'POST',
        url: '/api/v1/namespaces/missing/configmaps',
        ...json('{"metadata":{"name":"orphan"}}'),
      },
      404,
      'NotFound',
    );
    await refused(
      {
        method: 'PATCH',
        url: '/api/v1/namespaces/missing/configmaps/orphan?fieldManager=t',
        ...json(
          '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"orphan"}}',
          'application/apply-patch+yaml',
        ),
      },
      404,
      'NotFound',
    );
  });
});

describe('fieldValidation', () => {
  const body = (name: string) =>
    JSON.stringify({ metadata: { name, colour: 'red' }, data: { a: 'b' }, extra: 1 });

  test('Strict refuses unknown fields with a 400 naming them', async () => {
    const answer = await refused(
      { method: 'POST', url: `${CONFIGMAPS}?fieldValidation=Strict`, ...json(body('strict')) },
      400,
      'BadRequest',
    );
    assert.match(answer.body.message, /unknown field "metadata\.colour"/);
    assert.match(answer.body.message, /unknown field "extra"/);
  });

  test('Strict refuses fields named after Object.prototype members', async () => {
    for (const field of ['constructor', 'toString', '__proto__']) {
      const payload = `{"metadata":{"name":"proto"},"${field}":{"a":"b"}}`;
      const answer = await refused(
        { method: 'POST', url: `${CONFIGMAPS}?fieldValidation=Strict`, ...json(payload) },
        400,
        'BadRequest',
      );
      assert.match(answer.body.message, new RegExp(`unknown field "${field}"`));
    }
  });

  test('Warn keeps the write and names the fields in Warning headers', async () => {
    const answer = await call(hub.app, {
      method: 'POST',
      url: `${CONFIGMAPS}?fieldValidation=Warn`,
      ...json(body('warn')),
    });
    assert.equal(answer.status, 201, answer.text);
    const warnings = [answer.headers.warning].flat().join('\n');
    assert.match(warnings, /unknown field \\"metadata\.colour\\"/);
    assert.match(warnings, /unknown field \\"extra\\"/);
    assert.equal(answer.body.extra, undefined);
    assert.equal(answer.body.metadata.colour, undefined);
  });

  test('30,000 unknown fields: warned of in bounded headers, or named a hundred at a time when Strict', async () => {
    const wide = `{"metadata":{"name":"wide"},"data":{"a":"b"},${Array.from({ length: 30_000 }, (_, i) => `"k${i}":{"a":[1]}`).join(',')}}`;
    const warned = await call(hub.app, { method: 'POST', url: CONFIGMAPS, ...json(wide) });
    assert.equal(warned.status, 201, warned.text.slice(0, 300));
    const values = [warned.headers.warning].flat() as string[];
    assert.ok(values.join('').length < 9 * 1024, `${values.join('').length} characters of warnings`);
    assert.match(values[0]!, /unknown field \\"k0\\"/);
    assert.match(values.at(-1)!, /^299 - "\d+ more warnings not shown"$/);
    const strict = await refused(
      {
        method: 'POST',
        url: `${CONFIGMAPS}?fieldValidation=Strict`,
        ...json(wide.replace('"wide"', '"wide-strict"')),
      },
      400,
      'BadRequest',
    );
    assert.match(strict.body.message, /unknown field "k99", 29900 more$/);
  });

  test('Ignore drops unknown fields silently', async () => {
    const answer = await call(hub.app, {
      method: 'POST',
      url: `${CONFIGMAPS}?fieldValidation=Ignore`,
      ...json(body('ignore')),
    });
    assert.equal(answer.status, 201, answer.text);
    assert.equal(answer.headers.warning, undefined);
    assert.equal(answer.body.extra, undefined);
    const read = await call(hub.app, { method: 'GET', url: `${CONFIGMAPS}/ignore` });
    assert.equal(read.body.extra, undefined);
    assert.deepEqual(read.body.data, { a: 'b' });
  });

  test('a value that is not one of the three is a 400', async () => {
    await refused(
      { method: 'POST', url: `${CONFIGMAPS}?fieldValidation=Loose`, ...json(body('loose')) },
      400,
      'BadRequest',
    );
  });

  test('a top-level __proto__ field cannot stand in for a missing spec', async () => {
    const { spec } = workloadCase.example('proto') as { spec: unknown };
    const payload = `{"apiVersion":"outpost.dev/v1alpha1","metadata":{"name":"proto"},"__proto__":${JSON.stringify({ spec })}}`;
    const answer = await refused({ method: 'POST', url: WORKLOADS, ...json(payload) }, 422, 'Invalid');
    assert.deepEqual(
      answer.body.details.causes.map((cause: { field: string }) => cause.field),
      ['spec'],
    );
  });
});

describe('validation', () => {
  test('an invalid Workload is a 422 with the fields at fault', async () => {
    const empty = await refused(
      {
        method: 'POST',
        url: WORKLOADS,
        ...json('{"apiVersion":"outpost.dev/v1alpha1","metadata":{"name":"empty"},"spec":{"resources":[]}}'),
      },
      422,
      'Invalid',
    );
    assert.equal(empty.body.details.kind, 'Workload');
    assert.deepEqual(
      empty.body.details.causes.map((cause: { field: string }) => cause.field),
      ['spec.resources'],
    );
    const unsupported = workloadCase.example('unsupported') as {
      spec: { resources: Array<{ kind: string }> };
    };
    unsupported.spec.resources[1]!.kind = 'DaemonSet';
    const answer = await refused(
      { method: 'POST', url: WORKLOADS, ...json(JSON.stringify(unsupported)) },
      422,
      'Invalid',
    );
    assert.deepEqual(
      answer.body.details.causes.map((cause: { field: string }) => cause.field),
      ['spec.resources[1].kind'],
    );
  });

  test('an invalid name or label is a 422 on metadata', async () => {
    const name = await refused(
      { method: 'POST', url: CONFIGMAPS, ...json('{"metadata":{"name":"Not_A_Name"}}') },
      422,
      'Invalid',
    );
    assert.equal(name.body.details.causes[0].field, 'metadata.name');
    const label = await refused(
      { method: 'POST', url: CONFIGMAPS, ...json('{"metadata":{"name":"l","labels":{"-bad":"x"}}}') },
      422,
      'Invalid',
    );
    assert.equal(label.body.details.causes[0].field, 'metadata.labels');
  });

  test('a Secret whose stringData is not a map of strings is a 422, not silently dropped', async () => {
    await refused(
      { method: 'POST', url: SECRETS, ...json('{"metadata":{"name":"s"},"stringData":{"a":5}}') },
      422,
      'Invalid',
    );
    await refused(
      { method: 'POST', url: SECRETS, ...json('{"metadata":{"name":"s"},"data":[],"stringData":{"a":"b"}}') },
      422,
      'Invalid',
    );
  });

  test('nulls for known fields mean "not set", as the apiserver decodes them', async () => {
    const answer = await call(hub.app, {
      method: 'POST',
      url: CONFIGMAPS,
      ...json(
        '{"metadata":{"name":"nulls","labels":null,"annotations":null,"creationTimestamp":null},"data":null}',
      ),
    });
    assert.equal(answer.status, 201, answer.text);
    assert.equal('labels' in answer.body.metadata, false);
    assert.equal('data' in answer.body, false);
  });

  test('an apply configuration without a name is a 422 on metadata.name', async () => {
    const answer = await refused(
      {
        method: 'PATCH',
        url: `${CONFIGMAPS}/nameless?fieldManager=t`,
        ...json('{"apiVersion":"v1","kind":"ConfigMap"}', 'application/apply-patch+yaml'),
      },
      422,
      'Invalid',
    );
    assert.equal(answer.body.details.causes[0].field, 'metadata.name');
    assert.equal(
      answer.body.message,
      'ConfigMap "nameless" is invalid: metadata.name: Required value: name is required',
    );
  });

  test('apply without a fieldManager is a 422', async () => {
    await refused(
      {
        method: 'PATCH',
        url: `${CONFIGMAPS}/applied`,
        ...json('{"apiVersion":"v1","kind":"ConfigMap"}', 'application/apply-patch+yaml'),
      },
      422,
      'Invalid',
    );
  });
});

describe('writes to existing objects', () => {
  test('a stale resourceVersion is a 409 Conflict', async () => {
    const created = await create(CONFIGMAPS, { metadata: { name: 'stale' }, data: { a: '1' } });
    const stale = created.body.metadata.resourceVersion as string;
    const updated = await call(hub.app, {
      method: 'PUT',
      url: `${CONFIGMAPS}/stale`,
      ...json(JSON.stringify({ ...created.body, data: { a: '2' } })),
    });
    assert.equal(updated.status, 200, updated.text);
    const old = {
      ...created.body,
      metadata: { ...created.body.metadata, resourceVersion: stale },
      data: { a: '3' },
    };
    await refused(
      { method: 'PUT', url: `${CONFIGMAPS}/stale`, ...json(JSON.stringify(old)) },
      409,
      'Conflict',
    );
    const pinned = JSON.stringify({ metadata: { resourceVersion: stale }, data: { a: '4' } });
    await refused(
      { method: 'PATCH', url: `${CONFIGMAPS}/stale`, ...json(pinned, 'application/merge-patch+json') },
      409,
      'Conflict',
    );
  });

  test('a patch may not rename an object or move it to another namespace', async () => {
    await create(CONFIGMAPS, { metadata: { name: 'named' }, data: { a: '1' } });
    const url = `${CONFIGMAPS}/named`;
    await refused(
      { method: 'PATCH', url, ...json('{"metadata":{"name":"renamed"}}', 'application/merge-patch+json') },
      400,
      'BadRequest',
    );
    await refused(
      {
        method: 'PATCH',
        url,
        ...json(
          '[{"op":"replace","path":"/metadata/name","value":"renamed"}]',
          'application/json-patch+json',
        ),
      },
      400,
      'BadRequest',
    );
    await refused(
      {
        method: 'PATCH',
        url,
        ...json('{"metadata":{"namespace":"elsewhere"}}', 'application/strategic-merge-patch+json'),
      },
      400,
      'BadRequest',
    );
    const read = await call(hub.app, { method: 'GET', url });
    assert.equal(read.body.metadata.name, 'named');
  });

  test('an object may not grow past 1.5 MiB, so that whatever is stored can be PUT back', async () => {
    // Data, not annotations: those may not hold more than 256 KiB together.
    await create(CONFIGMAPS, { metadata: { name: 'grows' } });
    const chunk = 'x'.repeat(1024 * 1024);
    const url = `${CONFIGMAPS}/grows`;
    const first = await call(hub.app, {
      method: 'PATCH',
      url,
      ...json(JSON.stringify({ data: { a: chunk } }), 'application/merge-patch+json'),
    });
    assert.equal(first.status, 200, first.text.slice(0, 300));
    await refused(
      {
        method: 'PATCH',
        url,
        ...json(JSON.stringify({ data: { b: chunk } }), 'application/merge-patch+json'),
      },
      413,
      'RequestEntityTooLarge',
    );
    const read = await call(hub.app, { method: 'GET', url });
    const put = await call(hub.app, { method: 'PUT', url, ...json(read.text) });
    assert.equal(put.status, 200, put.text.slice(0, 300));
  });
});

describe('history that compaction removed', () => {
  test('a list continue token from before compaction is a 410 Expired', async () => {
    for (const name of ['page-1', 'page-2', 'page-3']) await create(CONFIGMAPS, { metadata: { name } });
    const first = await call(hub.app, { method: 'GET', url: `${CONFIGMAPS}?limit=1` });
    assert.equal(first.status, 200, first.text);
    const token = first.body.metadata.continue as string;
    assert.ok(token, 'the first page carries a continue token');
    await create(CONFIGMAPS, { metadata: { name: 'page-4' } });
    await hub.store.compact(await hub.store.currentRevision());
    await refused(
      { method: 'GET', url: `${CONFIGMAPS}?limit=1&continue=${encodeURIComponent(token)}` },
      410,
      'Expired',
    );
  });

  test('a continue token that is not one is a 400', async () => {
    await refused({ method: 'GET', url: `${CONFIGMAPS}?limit=1&continue=garbage` }, 400, 'BadRequest');
  });

  test('a watch from a compacted resourceVersion ends with an ERROR event carrying a 410 Status', async () => {
    const created = await create(CONFIGMAPS, { metadata: { name: 'watched' } });
    const old = Number(created.body.metadata.resourceVersion);
    await create(CONFIGMAPS, { metadata: { name: 'watched-2' } });
    await hub.store.compact(await hub.store.currentRevision());
    const response = await hub.app.inject({
      method: 'GET',
      url: `${CONFIGMAPS}?watch=true&resourceVersion=${old}`,
    });
    assert.equal(response.statusCode, 200);
    const events = response.body
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; object: Record<string, unknown> });
    assert.equal(events.length, 1, response.body);
    assert.equal(events[0]!.type, 'ERROR');
    assert.equal(events[0]!.object.kind, 'Status');
    assert.equal(events[0]!.object.code, 410);
    assert.equal(events[0]!.object.reason, 'Expired');
  });
});
