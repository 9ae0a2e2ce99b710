/**
 * The resourceVersion of reads: a malformed one (or a malformed timeoutSeconds or
 * resourceVersionMatch) is answered with a Status before any watch stream starts; one beyond the
 * head waits a little for the hub to get there, then answers as the apiserver does (504
 * "Too large resource version", retry after 1 s); Exact lists read the state at that revision.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { call, type InProcessHub, startInProcessHub } from '../support/in-process/index.ts';

const CONFIGMAPS = '/api/v1/namespaces/default/configmaps';
const WAIT_MS = 300;

let hub: InProcessHub;

before(async () => {
  hub = await startInProcessHub({ futureRevisionWaitMs: WAIT_MS });
  const namespace = await call(hub.app, {
    method: 'POST',
    url: '/api/v1/namespaces',
    payload: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } },
  });
  assert.equal(namespace.status, 201, namespace.text);
});

after(async () => {
  await hub?.close();
});

const createConfigMap = async (name: string, data: Record<string, string> = {}) => {
  const answer = await call(hub.app, {
    method: 'POST',
    url: CONFIGMAPS,
    payload: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data },
  });
  assert.equal(answer.status, 201, answer.text);
  return answer.body as { metadata: { resourceVersion: string } };
};

describe('malformed read parameters are answered before any stream', () => {
  for (const query of [
    'watch=1&resourceVersion=abc',
    'watch=1&resourceVersion=-1',
    'watch=1&resourceVersion=1.5',
    'watch=1&timeoutSeconds=abc',
    'watch=1&timeoutSeconds=-5',
    'watch=1&labelSelector=a%20in%20(',
    'resourceVersion=abc',
    'resourceVersion=-1',
  ]) {
    test(`GET ?${query} answers a 400 Status`, async () => {
      const answer = await call(hub.app, { method: 'GET', url: `${CONFIGMAPS}?${query}` });
      assert.equal(answer.status, 400, answer.text);
    });
  }

  test('a get of one object with a malformed resourceVersion answers a 400 Status', async () => {
    await createConfigMap('one');
    const answer = await call(hub.app, { method: 'GET', url: `${CONFIGMAPS}/one?resourceVersion=x` });
    assert.equal(answer.status, 400, answer.text);
  });

  for (const [query, why] of [
    ['resourceVersionMatch=Exact', 'resourceVersionMatch is forbidden unless resourceVersion is provided'],
    ['resourceVersion=0&resourceVersionMatch=Exact', 'resourceVersionMatch "exact" is forbidden'],
    ['resourceVersion=1&resourceVersionMatch=Newest', 'Unsupported value: "Newest"'],
    ['watch=1&resourceVersion=1&resourceVersionMatch=NotOlderThan', 'unless sendInitialEvents is provided'],
    [
      'watch=1&sendInitialEvents=true&resourceVersionMatch=Exact',
      'Unsupported value: "Exact": supported values: "NotOlderThan"',
    ],
  ] as const) {
    test(`GET ?${query} answers a 422 ListOptions Status`, async () => {
      const answer = await call(hub.app, { method: 'GET', url: `${CONFIGMAPS}?${query}` });
      assert.equal(answer.status, 422, answer.text);
      assert.equal(answer.body.details.kind, 'ListOptions');
      assert.equal(answer.body.details.group, 'meta.k8s.io');
      assert.equal(answer.body.details.causes[0].field, 'resourceVersionMatch');
      assert.ok(answer.body.message.includes(why), answer.body.message);
    });
  }
});

describe('a resourceVersion beyond the head', () => {
  const assertTooLarge = (response: { statusCode: number; body: string }, requested: number) => {
    assert.equal(response.statusCode, 504, response.body);
    const status = JSON.parse(response.body);
    assert.equal(status.kind, 'Status');
    assert.equal(status.reason, 'Timeout');
    assert.match(
      status.message,
      new RegExp(`^Timeout: Too large resource version: ${requested}, current: \\d+$`),
    );
    assert.equal(status.details.retryAfterSeconds, 1);
    assert.deepEqual(status.details.causes, [
      { reason: 'ResourceVersionTooLarge', message: 'Too large resource version' },
    ]);
  };

  for (const [what, query] of [
    ['a watch', 'watch=1&'],
    ['a list', ''],
  ] as const) {
    test(`${what} waits for it, then answers 504 Too large resource version`, async () => {
      const requested = (await hub.service.currentRevision()) + 1000;
      const started = Date.now();
      const response = await hub.app.inject({
        method: 'GET',
        url: `${CONFIGMAPS}?${query}resourceVersion=${requested}`,
      });
      assert.ok(Date.now() - started >= WAIT_MS - 20, `answered after ${Date.now() - started} ms`);
      assertTooLarge(response, requested);
    });
  }

  test('a get of one object answers 504 too', async () => {
    await createConfigMap('future-get');
    const requested = (await hub.service.currentRevision()) + 1000;
    assertTooLarge(
      await hub.app.inject({ method: 'GET', url: `${CONFIGMAPS}/future-get?resourceVersion=${requested}` }),
      requested,
    );
  });

  test('a list the hub catches up with while it waits is answered', async () => {
    const requested = (await hub.service.currentRevision()) + 1;
    const answering = hub.app.inject({ method: 'GET', url: `${CONFIGMAPS}?resourceVersion=${requested}` });
    await createConfigMap('caught-up');
    const response = await answering;
    assert.equal(response.statusCode, 200, response.body);
    const list = JSON.parse(response.body);
    assert.ok(Number(list.metadata.resourceVersion) >= requested);
    assert.ok(list.items.some((item: { metadata: { name: string } }) => item.metadata.name === 'caught-up'));
  });

  test('a watch the hub catches up with streams what comes after the revision', async () => {
    const requested = (await hub.service.currentRevision()) + 1;
    const watching = hub.app.inject({
      method: 'GET',
      url: `${CONFIGMAPS}?watch=1&timeoutSeconds=1&resourceVersion=${requested}`,
    });
    await createConfigMap('reached');
    // Sent whenever the watch starts: it replays every event after the revision it names.
    await createConfigMap('after');
    const response = await watching;
    assert.equal(response.statusCode, 200, response.body);
    const names = response.body
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line).object.metadata.name);
    assert.deepEqual(names, ['after']);
  });
});

describe('resourceVersionMatch=Exact', () => {
  test('lists the collection as it was at that revision', async () => {
    const first = await createConfigMap('exact-a');
    await createConfigMap('exact-b');
    const answer = await call(hub.app, {
      method: 'GET',
      url: `${CONFIGMAPS}?resourceVersion=${first.metadata.resourceVersion}&resourceVersionMatch=Exact`,
    });
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.body.metadata.resourceVersion, first.metadata.resourceVersion);
    const names = answer.body.items.map((item: { metadata: { name: string } }) => item.metadata.name);
    assert.ok(names.includes('exact-a'));
    assert.ok(!names.includes('exact-b'), names.join(','));
  });

  test('a compacted revision answers 410 Expired', async () => {
    const old = await createConfigMap('compacted');
    await createConfigMap('newer');
    await hub.store.compact(await hub.service.currentRevision());
    const answer = await call(hub.app, {
      method: 'GET',
      url: `${CONFIGMAPS}?resourceVersion=${old.metadata.resourceVersion}&resourceVersionMatch=Exact`,
    });
    assert.equal(answer.status, 410, answer.text);
    assert.equal(answer.body.reason, 'Expired');
  });
});
