/** The hub answering Kubernetes protobuf bodies: created objects, refused kinds, malformed bytes. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { SqliteStore } from '../../../store/index.ts';
import { buildHub } from '../../index.ts';
import { KUBERNETES_PROTOBUF } from './decode.ts';
import { entry, envelope, msg, str } from './encoder.fixture.ts';

describe('the hub answering protobuf bodies', () => {
  let app: FastifyInstance;
  let store: SqliteStore;

  before(async () => {
    store = new SqliteStore({ path: ':memory:' });
    ({ app } = buildHub({
      store,
      authenticate: () => ({ user: 'admin', groups: ['system:masters'] }),
      version: 'test',
    }));
    await app.ready();
  });
  after(async () => {
    await app.close();
    await store.close();
  });

  const post = (url: string, payload: Uint8Array) =>
    app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': KUBERNETES_PROTOBUF, accept: `${KUBERNETES_PROTOBUF},application/json` },
      payload: Buffer.from(payload),
    });

  it('creates a namespace and a configmap from protobuf and answers JSON', async () => {
    const ns = await post(
      '/api/v1/namespaces',
      envelope('v1', 'Namespace', [...msg(1, str(1, 'pb'), entry(11, 'team', 'a')), ...msg(2), ...msg(3)]),
    );
    assert.equal(ns.statusCode, 201, ns.body);
    assert.match(String(ns.headers['content-type']), /application\/json/);
    assert.deepEqual(ns.json().metadata.labels, { team: 'a' });
    assert.equal(ns.json().status.phase, 'Active');
    const cm = await post(
      '/api/v1/namespaces/pb/configmaps',
      envelope('v1', 'ConfigMap', [
        ...msg(1, str(1, 'c1'), str(3, 'pb')),
        ...entry(2, 'a', 'b'),
        ...entry(3, 'bin', [0xff]),
      ]),
    );
    assert.equal(cm.statusCode, 201, cm.body);
    assert.deepEqual(cm.json().data, { a: 'b' });
    assert.deepEqual(cm.json().binaryData, { bin: '/w==' });
  });

  it('replaces an object with a protobuf PUT', async () => {
    const current = (await app.inject({ method: 'GET', url: '/api/v1/namespaces/pb/configmaps/c1' })).json();
    const body = envelope('v1', 'ConfigMap', [
      ...msg(1, str(1, 'c1'), str(3, 'pb'), str(6, current.metadata.resourceVersion)),
      ...entry(2, 'a', 'changed'),
    ]);
    const put = await app.inject({
      method: 'PUT',
      url: '/api/v1/namespaces/pb/configmaps/c1',
      headers: { 'content-type': KUBERNETES_PROTOBUF },
      payload: Buffer.from(body),
    });
    assert.equal(put.statusCode, 200, put.body);
    assert.deepEqual(put.json().data, { a: 'changed' });
  });

  it('answers 415 with a Status naming a kind it cannot decode', async () => {
    const answer = await post('/api/v1/namespaces/pb/configmaps', envelope('v1', 'Pod', msg(1, str(1, 'p'))));
    assert.equal(answer.statusCode, 415);
    assert.equal(answer.json().kind, 'Status');
    assert.equal(answer.json().reason, 'UnsupportedMediaType');
    assert.match(answer.json().message, /v1 Pod/);
  });

  it('answers 400 with a Status naming the problem in malformed bytes', async () => {
    const answer = await post(
      '/api/v1/namespaces/pb/configmaps',
      envelope('v1', 'ConfigMap', [0x0a, 0x10, 0x0a]),
    );
    assert.equal(answer.statusCode, 400);
    assert.equal(answer.json().reason, 'BadRequest');
    assert.match(answer.json().message, /could not be decoded: ConfigMap: length 16 runs past the end/);
  });
});
