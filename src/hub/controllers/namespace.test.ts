import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  configMap,
  eventually,
  startTestService,
  type TestService,
} from '../../../test/support/in-process/index.ts';
import { Manager } from '../../controller/index.ts';
import { NAMESPACE_CONTENT_FINALIZER, parse } from '../kube-api/index.ts';
import { addNamespaceReconciler } from './namespace.ts';

describe('namespace controller', () => {
  let env: TestService;
  const stop = new AbortController();
  let running: Promise<void>;

  before(async () => {
    env = await startTestService();
    const manager = new Manager({ client: env.service });
    addNamespaceReconciler(manager, { recheckMs: 50 });
    running = manager.start(stop.signal);
  });
  after(async () => {
    stop.abort();
    await running;
    await env.close();
  });

  const namespaces = () => env.kind('Namespace');
  const configMaps = () => env.kind('ConfigMap');
  const createNamespace = (name: string) =>
    env.service.create(
      namespaces(),
      undefined,
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name } },
      { fieldManager: 'test' },
    );
  const createConfigMap = (namespace: string, name: string, finalizers?: string[]) =>
    env.service.create(
      configMaps(),
      namespace,
      configMap(name, {}, { namespace, ...(finalizers ? { finalizers } : {}) }),
      { fieldManager: 'test' },
    );
  const namespaceGone = (name: string) =>
    eventually(
      async () => (await env.service.find(namespaces(), undefined, name)) === undefined,
      `${name} goes`,
    );

  it('deletes an empty namespace at once, without a finalizer', async () => {
    await createNamespace('empty');
    const deleted = parse(await env.service.delete(namespaces(), undefined, 'empty', {}));
    assert.equal(deleted.metadata.finalizers, undefined);
    assert.equal(await env.service.find(namespaces(), undefined, 'empty'), undefined);
  });

  it('holds a namespace with content Terminating, deletes the content, then lets the namespace go', async () => {
    await createNamespace('full');
    for (let i = 0; i < 5; i++) await createConfigMap('full', `cm-${i}`);
    const marked = parse(await env.service.delete(namespaces(), undefined, 'full', {}));
    assert.equal((marked.status as { phase?: string }).phase, 'Terminating');
    assert.deepEqual(marked.metadata.finalizers, [NAMESPACE_CONTENT_FINALIZER]);
    await namespaceGone('full');
    assert.equal((await env.service.list(configMaps(), 'full', {})).items.length, 0);
  });

  it('keeps a namespace while an object a finalizer holds remains, and lets it go once that object goes', async () => {
    await createNamespace('held');
    await createConfigMap('held', 'plain');
    await createConfigMap('held', 'guarded', ['example.com/hold']);
    await env.service.delete(namespaces(), undefined, 'held', {});
    await eventually(
      async () => (await env.service.find(configMaps(), 'held', 'plain')) === undefined,
      'the plain object is deleted',
    );
    const guarded = parse(await env.service.get(configMaps(), 'held', 'guarded'));
    assert.ok(guarded.metadata.deletionTimestamp, 'the held object is being deleted');
    assert.ok(await env.service.find(namespaces(), undefined, 'held'), 'the namespace waits for it');
    await env.service.patch(
      configMaps(),
      'held',
      'guarded',
      'merge',
      { metadata: { finalizers: null } },
      { fieldManager: 'test' },
    );
    await namespaceGone('held');
  });
});
