/**
 * Property tests of the hub's API: broken versions of valid objects of every kind, sent through
 * every write verb, never crash the hub, every error is a proper Status, every refused request
 * writes nothing, and everything accepted can be read back and PUT unchanged without a write.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import YAML from 'yaml';
import {
  type Answer,
  assertRoundTrips,
  assertServing,
  call,
  type InProcessHub,
  recordWrites,
  startInProcessHub,
} from '../support/in-process/index.ts';
import { KIND_CASES, type KindCase, NAMESPACE } from './examples.ts';
import { jsonPatchFor, jsonPatchSeedArb, mutate, mutationsArb } from './mutations.ts';

const RUNS = Number(process.env.API_PROPERTY_RUNS ?? 300);
/** Failures print the assertion that failed, not only the counterexample. */
const PARAMETERS = { numRuns: RUNS, includeErrorInReport: true } as const;

let hub: InProcessHub;
let serial = 0;

/** The name of the object each kind's updates and patches go to. */
const targetName = (kindCase: KindCase) => `target-${kindCase.kind.toLowerCase()}`;
const targetUrl = (kindCase: KindCase) => `${kindCase.collection}/${targetName(kindCase)}`;

before(async () => {
  // A resourceVersion beyond the head waits this long before its 504 (3 s in a real hub).
  hub = await startInProcessHub({ futureRevisionWaitMs: 20 });
  const namespace = await call(hub.app, {
    method: 'POST',
    url: '/api/v1/namespaces',
    payload: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } },
  });
  assert.equal(namespace.status, 201, namespace.text);
  for (const kindCase of KIND_CASES) {
    const created = await call(hub.app, {
      method: 'POST',
      url: kindCase.collection,
      payload: kindCase.example(targetName(kindCase)),
    });
    assert.equal(created.status, 201, `${kindCase.kind}: ${created.text}`);
  }
});

/** Answers by method, media type and status: `API_PROPERTY_STATS=1` prints them, to see what the runs reach. */
const answers = new Map<string, number>();
after(async () => {
  if (process.env.API_PROPERTY_STATS)
    console.error(
      [...answers]
        .sort()
        .map(([key, count]) => `${key}: ${count}`)
        .join('\n'),
    );
  await hub?.close();
});

const kindArb = fc.constantFrom(...KIND_CASES);
const fieldValidationArb = fc.constantFrom(undefined, 'Strict', 'Warn', 'Ignore');
const queryArb = fc.record({ fieldValidation: fieldValidationArb, dryRun: fc.boolean() });

interface Attempt {
  readonly method: 'POST' | 'PUT' | 'PATCH';
  readonly url: string;
  readonly query: {
    fieldValidation?: string | undefined;
    dryRun: boolean;
    fieldManager?: string;
    force?: boolean;
  };
  readonly contentType: string;
  readonly payload: string;
  /** The URL of the object a 2xx answer wrote (its read-back and PUT must be a no-op). */
  readonly objectUrl: (answer: Answer) => string | undefined;
}

function urlWithQuery(url: string, query: Attempt['query']): string {
  const params = new URLSearchParams();
  if (query.fieldValidation) params.set('fieldValidation', query.fieldValidation);
  if (query.dryRun) params.set('dryRun', 'All');
  if (query.fieldManager !== undefined) params.set('fieldManager', query.fieldManager);
  if (query.force) params.set('force', 'true');
  const text = params.toString();
  return text ? `${url}?${text}` : url;
}

/**
 * Sends one attempt and checks the properties: Status errors and no 5xx (in `call`), nothing
 * written by a refusal or a dry run, the hub still serving, and what was written round-trips.
 */
async function attempt(request: Attempt): Promise<Answer> {
  const recorder = await recordWrites(hub.store);
  const url = urlWithQuery(request.url, request.query);
  const answer = await call(hub.app, {
    method: request.method,
    url,
    payload: request.payload,
    headers: { 'content-type': request.contentType },
  });
  const tally = `${request.method} ${request.contentType} ${answer.status}`;
  answers.set(tally, (answers.get(tally) ?? 0) + 1);
  const what = `${request.method} ${url} ${request.contentType} ${request.payload.slice(0, 400)} -> ${answer.status} ${answer.text.slice(0, 400)}`;
  if (answer.status >= 400) await recorder.assertUnchanged(`refused request: ${what}`);
  else if (request.query.dryRun) await recorder.assertUnchanged(`dry run: ${what}`);
  else recorder.stop();
  await assertServing(hub.app);
  if (answer.status < 300 && !request.query.dryRun) {
    const objectUrl = request.objectUrl(answer);
    if (objectUrl) await assertRoundTrips(hub, objectUrl, what, answer.body);
  }
  return answer;
}

async function readTarget(kindCase: KindCase): Promise<Record<string, unknown>> {
  const live = await call(hub.app, { method: 'GET', url: targetUrl(kindCase) });
  assert.equal(live.status, 200, live.text);
  return live.body;
}

const asJson = (value: unknown) => JSON.stringify(value) ?? 'null';
const createdUrl = (kindCase: KindCase) => (answer: Answer) =>
  typeof answer.body?.metadata?.name === 'string'
    ? `${kindCase.collection}/${encodeURIComponent(answer.body.metadata.name)}`
    : undefined;

describe('API properties: broken objects never break the hub', () => {
  test('create (POST) of mutated objects answers a Status or writes a valid object', async () => {
    await fc.assert(
      fc.asyncProperty(
        kindArb,
        mutationsArb,
        queryArb,
        fc.boolean(),
        async (kindCase, mutations, query, yaml) => {
          const body = mutate(kindCase.example(`c-${++serial}`), mutations);
          await attempt({
            method: 'POST',
            url: kindCase.collection,
            query,
            contentType: yaml ? 'application/yaml' : 'application/json',
            payload: yaml ? YAML.stringify(body) : asJson(body),
            objectUrl: createdUrl(kindCase),
          });
        },
      ),
      PARAMETERS,
    );
  });

  test('update (PUT) of mutated live objects, with the right or a stale resourceVersion', async () => {
    await fc.assert(
      fc.asyncProperty(
        kindArb,
        mutationsArb,
        queryArb,
        fc.constantFrom('right', 'stale', 'as-mutated'),
        fc.boolean(),
        async (kindCase, mutations, query, version, status) => {
          const live = await readTarget(kindCase);
          const body = mutate(live, mutations) as { metadata?: { resourceVersion?: unknown } };
          const metadataIsObject =
            typeof body?.metadata === 'object' && body.metadata !== null && !Array.isArray(body.metadata);
          if (version !== 'as-mutated' && metadataIsObject) {
            body.metadata!.resourceVersion =
              version === 'right' ? (live.metadata as { resourceVersion: string }).resourceVersion : '1';
          }
          const url = status ? `${targetUrl(kindCase)}/status` : targetUrl(kindCase);
          const answer = await attempt({
            method: 'PUT',
            url,
            query,
            contentType: 'application/json',
            payload: asJson(body),
            objectUrl: () => targetUrl(kindCase),
          });
          if (version === 'stale' && metadataIsObject)
            assert.ok(answer.status >= 400, `a stale resourceVersion was accepted: ${answer.text}`);
        },
      ),
      PARAMETERS,
    );
  });

  test('merge patch of mutated objects, on the object and its status', async () => {
    await fc.assert(
      fc.asyncProperty(
        kindArb,
        mutationsArb,
        queryArb,
        fc.boolean(),
        async (kindCase, mutations, query, status) => {
          const patch = mutate(kindCase.example(targetName(kindCase)), mutations);
          await attempt({
            method: 'PATCH',
            url: status ? `${targetUrl(kindCase)}/status` : targetUrl(kindCase),
            query,
            contentType: 'application/merge-patch+json',
            payload: asJson(patch),
            objectUrl: () => targetUrl(kindCase),
          });
        },
      ),
      PARAMETERS,
    );
  });

  test('JSON patch with random operations and pointers', async () => {
    await fc.assert(
      fc.asyncProperty(
        kindArb,
        jsonPatchSeedArb,
        queryArb,
        fc.boolean(),
        async (kindCase, seeds, query, status) => {
          const live = await readTarget(kindCase);
          await attempt({
            method: 'PATCH',
            url: status ? `${targetUrl(kindCase)}/status` : targetUrl(kindCase),
            query,
            contentType: 'application/json-patch+json',
            payload: asJson(jsonPatchFor(live, seeds)),
            objectUrl: () => targetUrl(kindCase),
          });
        },
      ),
      PARAMETERS,
    );
  });

  test('strategic merge patch of mutated objects; custom kinds answer 415', async () => {
    await fc.assert(
      fc.asyncProperty(
        kindArb,
        mutationsArb,
        queryArb,
        fc.boolean(),
        async (kindCase, mutations, query, status) => {
          const patch = mutate(kindCase.example(targetName(kindCase)), mutations);
          const answer = await attempt({
            method: 'PATCH',
            url: status && kindCase.statusSubresource ? `${targetUrl(kindCase)}/status` : targetUrl(kindCase),
            query,
            contentType: 'application/strategic-merge-patch+json',
            payload: asJson(patch),
            objectUrl: () => targetUrl(kindCase),
          });
          if (!kindCase.strategic) assert.equal(answer.status, 415, answer.text);
        },
      ),
      PARAMETERS,
    );
  });

  test('server-side apply of mutated objects, new or existing, by several managers', async () => {
    await fc.assert(
      fc.asyncProperty(
        kindArb,
        mutationsArb,
        queryArb,
        fc.constantFrom('alice', 'bob', 'kubectl', undefined),
        fc.boolean(),
        fc.constantFrom('existing', 'new', 'status'),
        async (kindCase, mutations, query, fieldManager, force, target) => {
          const name = target === 'new' ? `a-${++serial}` : targetName(kindCase);
          const body = mutate(kindCase.example(name), mutations);
          await attempt({
            method: 'PATCH',
            url: `${kindCase.collection}/${name}${target === 'status' ? '/status' : ''}`,
            query: { ...query, ...(fieldManager !== undefined ? { fieldManager } : {}), force },
            contentType: 'application/apply-patch+yaml',
            payload: YAML.stringify(body),
            objectUrl: () => `${kindCase.collection}/${name}`,
          });
        },
      ),
      PARAMETERS,
    );
  });

  test('reads with random names, selectors, limits and continue tokens answer cleanly and write nothing', async () => {
    const selectorArb = fc.oneof(
      fc.constantFrom(
        'app=demo',
        'app in (demo,x)',
        '!app',
        'app,a!=b',
        'a in (',
        '=',
        'a==b==c',
        'a notin ()',
        'metadata.name=target',
        'spec.x=1',
        'metadata.name!=',
        '==',
      ),
      fc.string({ maxLength: 16 }),
    );
    const tokenArb = fc.oneof(
      fc.string({ maxLength: 16 }),
      fc.jsonValue({ maxDepth: 1 }).map((value) => Buffer.from(JSON.stringify(value)).toString('base64url')),
      fc
        .record({
          v: fc.constant('meta.k8s.io/v1'),
          rv: fc.oneof(fc.integer(), fc.double()),
          start: fc.string({ maxLength: 8 }),
        })
        .map((token) => Buffer.from(JSON.stringify(token)).toString('base64url')),
    );
    const readArb = fc.record({
      name: fc.option(
        fc.oneof(fc.constant('target-configmap'), fc.string({ unit: 'binary', maxLength: 12 })),
        { nil: undefined },
      ),
      labelSelector: fc.option(selectorArb, { nil: undefined }),
      fieldSelector: fc.option(selectorArb, { nil: undefined }),
      limit: fc.option(
        fc.oneof(
          fc.integer({ min: -3, max: 5 }).map(String),
          fc.constantFrom('abc', '1.5', '1e3', '', '99999999999999999999'),
        ),
        { nil: undefined },
      ),
      continue: fc.option(tokenArb, { nil: undefined }),
      resourceVersion: fc.option(fc.oneof(fc.constantFrom('0', '1', '-1', 'abc', ''), fc.nat().map(String)), {
        nil: undefined,
      }),
      resourceVersionMatch: fc.option(fc.constantFrom('Exact', 'NotOlderThan', 'exact', ''), {
        nil: undefined,
      }),
    });
    await fc.assert(
      fc.asyncProperty(kindArb, readArb, async (kindCase, read) => {
        const params = new URLSearchParams();
        for (const key of [
          'labelSelector',
          'fieldSelector',
          'limit',
          'continue',
          'resourceVersion',
          'resourceVersionMatch',
        ] as const) {
          const value = read[key];
          if (value !== undefined) params.set(key, value);
        }
        const path =
          read.name === undefined
            ? kindCase.collection
            : `${kindCase.collection}/${encodeURIComponent(read.name)}`;
        const recorder = await recordWrites(hub.store);
        const head = await hub.service.currentRevision();
        const future = /^\d+$/.test(read.resourceVersion ?? '') && Number(read.resourceVersion) > head;
        const answer = future
          ? await callBeyondHead(`${path}?${params}`)
          : await call(hub.app, { method: 'GET', url: `${path}?${params}` });
        await recorder.assertUnchanged(`GET ${path}?${params}`);
        if (answer.status === 200 && read.name === undefined)
          assert.ok(Array.isArray(answer.body.items), answer.text.slice(0, 300));
      }),
      PARAMETERS,
    );
  });

  /**
   * A read at a resourceVersion beyond the head: refused as any other (a 4xx Status) when its
   * other parameters are wrong, else the apiserver's 504 "Too large resource version".
   */
  async function callBeyondHead(url: string): Promise<Answer> {
    const response = await hub.app.inject({ method: 'GET', url });
    if (response.statusCode !== 504) return call(hub.app, { method: 'GET', url });
    const status = JSON.parse(response.body);
    assert.equal(status.reason, 'Timeout', response.body);
    assert.equal(status.details?.retryAfterSeconds, 1, response.body);
    assert.equal(status.details?.causes?.[0]?.reason, 'ResourceVersionTooLarge', response.body);
    return { status: 504, headers: response.headers, text: response.body, body: status };
  }

  test('arbitrary bodies of any content type are refused cleanly', async () => {
    const contentTypes = [
      'application/json',
      'application/yaml',
      'application/merge-patch+json',
      'application/json-patch+json',
      'application/strategic-merge-patch+json',
      'application/apply-patch+yaml',
      'text/plain',
      'application/vnd.kubernetes.protobuf',
    ];
    await fc.assert(
      fc.asyncProperty(
        kindArb,
        fc.constantFrom<Attempt['method']>('POST', 'PUT', 'PATCH'),
        fc.constantFrom(...contentTypes),
        fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.json({ maxDepth: 3 })),
        async (kindCase, method, contentType, payload) => {
          await attempt({
            method,
            url: method === 'POST' ? kindCase.collection : targetUrl(kindCase),
            query: { dryRun: false, fieldManager: 'fuzz' },
            contentType,
            payload,
            objectUrl: (answer) => (method === 'POST' ? createdUrl(kindCase)(answer) : targetUrl(kindCase)),
          });
        },
      ),
      PARAMETERS,
    );
  });
});
