import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestService, type TestService } from '../../test/support/in-process/index.ts';
import type { ListOptions, ListResult, Store } from '../store/index.ts';
import { Manager } from './manager.ts';

describe('Manager', () => {
  let env: TestService;
  let release: () => void = () => {};
  const listed = new Promise<void>((resolve) => {
    release = resolve;
  });

  before(async () => {
    // Lists wait until the test lets them through: the informers stay unsynced until then.
    env = await startTestService({
      wrap: (store): Store => ({
        currentRevision: () => store.currentRevision(),
        compactedRevision: () => store.compactedRevision(),
        get: (key) => store.get(key),
        list: async (options: ListOptions): Promise<ListResult> => {
          await listed;
          return store.list(options);
        },
        count: (prefix) => store.count(prefix),
        create: (key, render) => store.create(key, render),
        update: (key, revision, render) => store.update(key, revision, render),
        delete: (key, revision, render) => store.delete(key, revision, render),
        watch: (options, sink) => store.watch(options, sink),
        compact: (revision) => store.compact(revision),
        close: () => store.close(),
      }),
    });
  });
  after(() => env.close());

  it('names the informers whose caches have not synced, until they have', async () => {
    const manager = new Manager({ client: env.service });
    const devices = manager.informer(env.kind('Device'));
    manager.informer(env.kind('ConfigMap'), 'default');
    const controller = new AbortController();
    const running = manager.start(controller.signal);
    try {
      assert.deepEqual(manager.unsyncedInformers().sort(), ['/configmaps/default', 'outpost.dev/devices/']);
      release();
      assert.equal(await devices.waitForSync(controller.signal), true);
      await manager.informer(env.kind('ConfigMap'), 'default').waitForSync(controller.signal);
      assert.deepEqual(manager.unsyncedInformers(), []);
    } finally {
      controller.abort();
      await running;
    }
  });
});
