// Deleting a namespace is many writes (its content, then itself) done in the
// background after the namespace is marked Terminating. A crash in the middle
// must not leave it Terminating forever: the restarted hub finishes the job,
// as Kubernetes' namespace controller does.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Agent, request } from 'undici';
import { apiClient, removeDir, startHubProcess, tempDir } from '../support/index.ts';
import { watchDispatcher } from './crash-durability/index.ts';

const OBJECTS = 120;

test('a namespace deletion cut short by SIGKILL finishes after the restart', {
  timeout: 120_000,
}, async () => {
  const dataDir = await tempDir('outpost-crash-ns-');
  let hub = await startHubProcess({ dataDir });
  try {
    const client = apiClient(hub.kubeconfig);
    assert.equal(
      (await client.request('POST', '/api/v1/namespaces', { body: { metadata: { name: 'doomed' } } })).status,
      201,
    );
    const names = Array.from({ length: OBJECTS }, (_, i) => `cm-${i}`);
    for (let i = 0; i < names.length; i += 8) {
      await Promise.all(
        names.slice(i, i + 8).map(async (name) => {
          const created = await client.request('POST', '/api/v1/namespaces/doomed/configmaps', {
            body: { metadata: { name }, data: { n: name } },
          });
          assert.equal(created.status, 201, created.text);
        }),
      );
    }
    const list = await client.request('GET', '/api/v1/namespaces/doomed/configmaps?limit=1');
    const from = list.json().metadata.resourceVersion as string;

    // Kill the hub as soon as the drain has deleted its first object.
    const watch = watchDispatcher(hub.kubeconfig);
    const firstDelete = firstDeletedEvent(
      watch.server,
      watch.dispatcher,
      `/api/v1/namespaces/doomed/configmaps?watch=1&resourceVersion=${from}`,
    );
    const deleted = await client.request('DELETE', '/api/v1/namespaces/doomed');
    assert.equal(deleted.status, 200, deleted.text);
    assert.equal(deleted.json().status.phase, 'Terminating');
    await firstDelete;
    await hub.stop('SIGKILL');
    await client.close();
    await watch.dispatcher.destroy();

    hub = await startHubProcess({ dataDir });
    const after = apiClient(hub.kubeconfig);
    const left = (await after.request('GET', '/api/v1/namespaces/doomed/configmaps')).json().items
      .length as number;
    assert.ok(
      left > 0 && left < OBJECTS,
      `the kill must land mid-drain (${left} of ${OBJECTS} objects left)`,
    );
    const namespace = await after.request('GET', '/api/v1/namespaces/doomed');
    if (namespace.status === 200) {
      // Wait for the namespace's own DELETED event (the restarted hub must finish the drain unprompted).
      const rv = namespace.json().metadata.resourceVersion as string;
      const path = `/api/v1/namespaces?fieldSelector=metadata.name%3Ddoomed&watch=1&resourceVersion=${rv}`;
      const watchAfter = watchDispatcher(hub.kubeconfig);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`namespace still Terminating 30 s after the restart: ${namespace.text}`)),
          30_000,
        );
      });
      try {
        await Promise.race([firstDeletedEvent(watchAfter.server, watchAfter.dispatcher, path), timeout]);
      } finally {
        clearTimeout(timer);
        await watchAfter.dispatcher.destroy();
      }
    }
    const remaining = (await after.request('GET', '/api/v1/namespaces/doomed/configmaps')).json().items
      .length;
    assert.equal(remaining, 0);
    const recreated = await after.request('POST', '/api/v1/namespaces', {
      body: { metadata: { name: 'doomed' } },
    });
    assert.equal(recreated.status, 201, recreated.text);
    await after.close();
  } finally {
    await hub.stop('SIGKILL');
    await removeDir(dataDir);
  }
});

/** Resolves at the first DELETED event of a watch. */
async function firstDeletedEvent(server: string, dispatcher: Agent, path: string): Promise<void> {
  const controller = new AbortController();
  const response = await request(server + path, {
    dispatcher,
    signal: controller.signal,
  });
  let text = '';
  try {
    for await (const chunk of response.body) {
      text += (chunk as Buffer).toString('utf8');
      if (text.includes('"type":"DELETED"')) return;
    }
  } finally {
    controller.abort();
  }
  throw new Error('the watch ended before any object was deleted');
}
