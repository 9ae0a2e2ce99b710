import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startTestService, type TestService } from '../../../../test/support/in-process/index.ts';
import type { KubeObject } from '../../../api/index.ts';
import type { Store } from '../../../store/index.ts';
import { ApiError } from '../errors.ts';

/**
 * A store whose watches never deliver: what a replica sees of another replica's writes before
 * its tail catches up. The namespace check must then read, and answer the same.
 */
function silentWatches(store: Store): Store {
  return new Proxy(store, {
    get(target, property) {
      if (property === 'watch') {
        return (options: Parameters<Store['watch']>[0]) =>
          target.watch(options, () => {
            // delivers nothing
          });
      }
      const value = Reflect.get(target, property) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

for (const [label, wrap] of [
  ['fed by the watch', undefined],
  ['whose watch delivers nothing', silentWatches],
] as const) {
  describe(`creates check their namespace, with the namespace index ${label}`, () => {
    const fm = { fieldManager: 'ns-test' };
    const configMap = (env: TestService, namespace: string, name: string) =>
      env.service.create(
        env.kind('ConfigMap'),
        namespace,
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name } } as KubeObject,
        fm,
      );
    const namespace = (env: TestService, name: string, finalizers?: string[]) =>
      env.service.create(
        env.kind('Namespace'),
        undefined,
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name, ...(finalizers ? { finalizers } : {}) } },
        fm,
      );
    const refusal = async (write: Promise<unknown>): Promise<number> => {
      try {
        await write;
      } catch (error) {
        assert.ok(error instanceof ApiError, String(error));
        return error.code;
      }
      assert.fail('the create was accepted');
    };

    it('accepts content in a namespace created after the first create, refuses it once the namespace is terminating or gone', async () => {
      const env = await startTestService(wrap ? { wrap } : {});
      try {
        await configMap(env, 'default', 'first');
        assert.equal(await refusal(configMap(env, 'later', 'a')), 404, 'no such namespace yet');
        // A finalizer keeps the namespace Terminating after its delete.
        await namespace(env, 'later', ['test/hold']);
        await configMap(env, 'later', 'a');
        await env.service.delete(env.kind('Namespace'), undefined, 'later', {});
        assert.equal(await refusal(configMap(env, 'later', 'b')), 403, 'being terminated');
        const held = await env.service.get(env.kind('Namespace'), undefined, 'later');
        const object = JSON.parse(held.value) as KubeObject;
        object.metadata.finalizers = [];
        await env.service.update(env.kind('Namespace'), undefined, 'later', object, fm);
        assert.equal(await refusal(configMap(env, 'later', 'c')), 404, 'gone');
        await configMap(env, 'default', 'last');
      } finally {
        await env.close();
      }
    });
  });
}
