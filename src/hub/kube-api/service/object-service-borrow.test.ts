import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestService, type TestService } from '../../../../test/support/in-process/index.ts';
import type { KubeObject } from '../../../api/index.ts';
import { parse, prerender, renderObject } from './object-meta.ts';

/** Freezes a value and everything in it, as informer caches hand them out. */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

describe('writes with a borrowed body and a cached stored object', () => {
  let env: TestService;
  const fm = { fieldManager: 'borrow-test' };
  const cm = () => env.kind('ConfigMap');
  const create = async (name: string, data: Record<string, string>, labels?: Record<string, string>) =>
    parse(
      await env.service.create(
        cm(),
        'default',
        { metadata: { name, labels }, data } as unknown as KubeObject,
        fm,
      ),
    );

  before(async () => {
    env = await startTestService();
  });
  after(async () => {
    await env.close();
  });

  it('creates and updates from a frozen body without changing it, storing what a copied body stores', async () => {
    const body = deepFreeze({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'frozen', labels: { a: 'b' } },
      data: { k: 'v' },
    }) as unknown as KubeObject;
    const created = parse(await env.service.create(cm(), 'default', body, { ...fm, borrowBody: true }));
    assert.deepEqual(created.data, { k: 'v' });
    assert.deepEqual(created.metadata.labels, { a: 'b' });
    assert.equal(created.metadata.managedFields?.length, 1);

    const stored = deepFreeze(created);
    const next = deepFreeze({ ...stored, data: { k: 'w' } }) as KubeObject;
    const borrowed = parse(
      await env.service.update(cm(), 'default', 'frozen', next, { ...fm, borrowBody: true, stored }),
    );
    const reference = await create('copied', { k: 'v' }, { a: 'b' });
    const copied = parse(
      await env.service.update(cm(), 'default', 'copied', { ...reference, data: { k: 'w' } }, fm),
    );
    assert.deepEqual(borrowed.data, { k: 'w' });
    // Their times are those of two writes, which a busy machine can put in different seconds.
    const ownership = (object: KubeObject) =>
      (object.metadata.managedFields as { time?: string }[] | undefined)?.map(({ time: _, ...rest }) => rest);
    assert.deepEqual(ownership(borrowed), ownership(copied), 'the same ownership as a copied body');
    assert.equal(borrowed.metadata.resourceVersion !== stored.metadata.resourceVersion, true);
  });

  it('drops unknown fields and nulls from a copy, never from the borrowed body', async () => {
    const original = await create('dirty', { k: 'v' });
    const body = deepFreeze({
      ...original,
      metadata: { ...original.metadata, labels: null },
      data: { k: 'v2' },
      extra: { unknown: true },
    }) as unknown as KubeObject;
    const warnings: string[] = [];
    const written = parse(
      await env.service.update(cm(), 'default', 'dirty', body, { ...fm, borrowBody: true, warnings }),
    );
    assert.equal((written as Record<string, unknown>).extra, undefined);
    assert.equal(written.metadata.labels, undefined);
    assert.deepEqual(written.data, { k: 'v2' });
    assert.deepEqual(warnings, ['unknown field "extra"']);
    assert.deepEqual((body as Record<string, unknown>).extra, { unknown: true }, 'the body is as it was');
  });

  it('reads the stored text again when the cached object is not at the current revision', async () => {
    const first = await create('stale', { k: '1' });
    const second = parse(
      await env.service.update(cm(), 'default', 'stale', { ...first, data: { k: '2' } }, fm),
    );
    // A cache entry that lags behind (and lies): the service must not take it for the stored object.
    const lagging = deepFreeze({ ...first, data: { k: 'not what is stored' } }) as KubeObject;
    const written = parse(
      await env.service.update(
        cm(),
        'default',
        'stale',
        { ...second, data: { k: '3' } },
        { ...fm, borrowBody: true, stored: lagging },
      ),
    );
    assert.deepEqual(written.data, { k: '3' });
    assert.equal(Number(written.metadata.resourceVersion) > Number(second.metadata.resourceVersion), true);
  });

  it('refuses a write from a cached copy that is no longer current (409) or whose object is gone (404)', async () => {
    const first = deepFreeze(await create('moved', { k: '1' }));
    await env.service.update(cm(), 'default', 'moved', { ...first, data: { k: '2' } }, fm);
    const cached = { ...fm, borrowBody: true, stored: first };
    await assert.rejects(
      env.service.update(cm(), 'default', 'moved', { ...first, data: { k: '3' } }, cached),
      (error: { code?: number }) => error.code === 409,
    );
    // Nor when the write would change nothing: the answer is not the stale copy.
    await assert.rejects(
      env.service.update(cm(), 'default', 'moved', first, cached),
      (error: { code?: number }) => error.code === 409,
    );
    assert.deepEqual(parse(await env.service.get(cm(), 'default', 'moved')).data, { k: '2' });

    const gone = deepFreeze(await create('gone', { k: '1' }));
    await env.service.delete(cm(), 'default', 'gone', {});
    await assert.rejects(
      env.service.update(cm(), 'default', 'gone', { ...gone, data: { k: '2' } }, { ...cached, stored: gone }),
      (error: { code?: number }) => error.code === 404,
    );
  });

  it('answers a write from a current cached copy that changes nothing with the stored object, writing nothing', async () => {
    const first = deepFreeze(await create('same', { k: '1' }));
    const answer = await env.service.update(cm(), 'default', 'same', first, {
      ...fm,
      borrowBody: true,
      stored: first,
    });
    assert.equal(answer.revision, Number(first.metadata.resourceVersion));
    assert.deepEqual(parse(answer), first);
  });
});

describe('prerender', () => {
  it('renders the same text as renderObject, for objects with and without a resourceVersion', () => {
    const objects: KubeObject[] = [
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', resourceVersion: '7', uid: 'u' } },
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'b', labels: { x: 'ü' } },
        data: { t: '"q"' },
      },
    ] as unknown as KubeObject[];
    for (const object of objects) {
      const expected = renderObject(structuredClone(object), 1234);
      const rendered = prerender(structuredClone(object));
      assert.equal(rendered.render(1234), expected);
      assert.equal(rendered.bytes, Buffer.byteLength(expected) - '1234'.length);
    }
  });

  it('still renders correctly when the object holds a nested resourceVersion field', () => {
    const object = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'n' },
      spec: { inner: { metadata: { resourceVersion: '5' } } },
    } as unknown as KubeObject;
    const expected = renderObject(structuredClone(object), 99);
    assert.equal(prerender(structuredClone(object)).render(99), expected);
    assert.equal(JSON.parse(expected).spec.inner.metadata.resourceVersion, '5');
  });
});
