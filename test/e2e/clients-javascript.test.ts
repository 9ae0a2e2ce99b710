/**
 * The official Kubernetes JavaScript client (`@kubernetes/client-node` 1.4, the last line that
 * runs on Node 20) against a hub process with the admin kubeconfig: typed CRUD of core, RBAC and
 * custom kinds, watches resumed from a resourceVersion and with bookmarks, informers,
 * KubernetesObjectApi (which discovers each kind's resource) and server-side apply.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  makeInformer,
  PatchStrategy,
  RbacAuthorizationV1Api,
  setHeaderOptions,
  type V1ConfigMap,
  Watch,
} from '@kubernetes/client-node';
import { type HubProcess, removeDir, startHubProcess, waitFor } from '../support/index.ts';

const OUTPOST = 'outpost.dev';
const VERSION = 'v1alpha1';

/** A Workload running one Deployment, as an Outpost user writes it. */
function workload(namespace: string, name: string): KubernetesObject & Record<string, unknown> {
  return {
    apiVersion: `${OUTPOST}/${VERSION}`,
    kind: 'Workload',
    metadata: { name, namespace, labels: { app: name } },
    spec: {
      resources: [
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name },
          spec: {
            selector: { matchLabels: { app: name } },
            template: {
              metadata: { labels: { app: name } },
              spec: { containers: [{ name, image: 'nginx:1.27' }] },
            },
          },
        },
      ],
    },
  };
}

/** The status code of a client error (`ApiException` carries `code`). */
async function failsWith(status: number, call: () => Promise<unknown>): Promise<void> {
  await assert.rejects(call, (error: { code?: number; body?: unknown }) => {
    assert.equal(error.code, status, JSON.stringify(error.body));
    return true;
  });
}

interface WatchEvent {
  readonly type: string;
  readonly name: string | undefined;
  readonly resourceVersion: string | undefined;
}

/** Watches `path` until `count` events came (or `until` says stop), then aborts the watch. */
async function watchEvents(
  kc: KubeConfig,
  path: string,
  query: Record<string, string | number | boolean>,
  until: (events: WatchEvent[]) => boolean,
): Promise<WatchEvent[]> {
  const events: WatchEvent[] = [];
  let abort: AbortController | undefined;
  let finished = false;
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`watch of ${path}: only ${JSON.stringify(events)}`)),
      20_000,
    );
    const settle = () => {
      clearTimeout(timer);
      finished = true;
      abort?.abort();
      resolve();
    };
    new Watch(kc)
      .watch(
        path,
        query,
        (type, object: KubernetesObject) => {
          if (finished) return;
          events.push({
            type,
            name: object.metadata?.name,
            resourceVersion: object.metadata?.resourceVersion,
          });
          if (until(events)) settle();
        },
        (error) => {
          if (!finished && error && (error as { name?: string }).name !== 'AbortError') reject(error);
        },
      )
      .then((controller) => {
        abort = controller;
        if (finished) controller.abort();
      }, reject);
  });
  await done;
  return events;
}

describe('the official JavaScript client', () => {
  let hub: HubProcess;
  let kc: KubeConfig;
  let core: CoreV1Api;

  before(async () => {
    // Bookmarks every second, so that a watch sees one soon.
    hub = await startHubProcess({ args: ['--watch-bookmark-interval', '1s'] });
    kc = new KubeConfig();
    kc.loadFromFile(hub.kubeconfig);
    core = kc.makeApiClient(CoreV1Api);
  });
  after(async () => {
    await hub?.stop();
    if (hub) await removeDir(hub.dataDir);
  });

  const createNamespace = (name: string) => core.createNamespace({ body: { metadata: { name } } });
  const configMap = (namespace: string, name: string, data: Record<string, string>): V1ConfigMap => ({
    metadata: { name, namespace },
    data,
  });

  it('creates, reads, lists, patches, replaces and deletes core, RBAC and custom objects', async () => {
    const ns = 'js-crud';
    await createNamespace(ns);
    const created = await core.createNamespacedConfigMap({
      namespace: ns,
      body: {
        ...configMap(ns, 'settings', { level: 'info' }),
        metadata: { name: 'settings', labels: { app: 'web' } },
      },
    });
    assert.ok(created.metadata?.uid);
    const listed = await core.listNamespacedConfigMap({ namespace: ns, labelSelector: 'app=web' });
    assert.deepEqual(
      listed.items.map((item) => item.metadata?.name),
      ['settings'],
    );
    const patched = await core.patchNamespacedConfigMap(
      { name: 'settings', namespace: ns, body: { data: { mode: 'fast' } } },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    assert.deepEqual(patched.data, { level: 'info', mode: 'fast' });
    const jsonPatched = await core.patchNamespacedConfigMap({
      name: 'settings',
      namespace: ns,
      body: [{ op: 'replace', path: '/data/level', value: 'debug' }],
    });
    assert.equal(jsonPatched.data?.level, 'debug');
    const replaced = await core.replaceNamespacedConfigMap({
      name: 'settings',
      namespace: ns,
      body: { ...jsonPatched, data: { level: 'warn' } },
    });
    assert.deepEqual(replaced.data, { level: 'warn' });
    await failsWith(409, () =>
      core.replaceNamespacedConfigMap({
        name: 'settings',
        namespace: ns,
        body: { ...jsonPatched, data: { level: 'stale' } },
      }),
    );
    await core.deleteNamespacedConfigMap({ name: 'settings', namespace: ns });
    await failsWith(404, () => core.readNamespacedConfigMap({ name: 'settings', namespace: ns }));

    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: ns,
      body: {
        metadata: { name: 'reader' },
        rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }],
      },
    });
    const role = await rbac.patchNamespacedRole(
      {
        name: 'reader',
        namespace: ns,
        body: { rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['list'] }] },
      },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    assert.deepEqual(JSON.parse(JSON.stringify(role.rules)), [
      { apiGroups: [''], resources: ['secrets'], verbs: ['list'] },
    ]);

    const custom = kc.makeApiClient(CustomObjectsApi);
    const plural = { group: OUTPOST, version: VERSION, namespace: ns, plural: 'workloads' };
    await custom.createNamespacedCustomObject({ ...plural, body: workload(ns, 'web') });
    const labelled = (await custom.patchNamespacedCustomObject(
      { ...plural, name: 'web', body: { metadata: { labels: { tier: 'edge' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    )) as KubernetesObject;
    assert.deepEqual(labelled.metadata?.labels, { app: 'web', tier: 'edge' });
    // As for a custom resource in Kubernetes: no strategic merge patch.
    await failsWith(415, () =>
      custom.patchNamespacedCustomObject(
        { ...plural, name: 'web', body: { metadata: { labels: { tier: 'core' } } } },
        setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
      ),
    );
    const items = (
      (await custom.listNamespacedCustomObject({ ...plural, labelSelector: 'tier=edge' })) as {
        items: KubernetesObject[];
      }
    ).items;
    assert.deepEqual(
      items.map((item) => item.metadata?.name),
      ['web'],
    );
    await custom.deleteNamespacedCustomObject({ ...plural, name: 'web' });
    await failsWith(404, () => custom.getNamespacedCustomObject({ ...plural, name: 'web' }));
  });

  it('watches from a resourceVersion, resumes from an event without duplicates and gets bookmarks', async () => {
    const ns = 'js-watch';
    await createNamespace(ns);
    const path = `/api/v1/namespaces/${ns}/configmaps`;
    await core.createNamespacedConfigMap({ namespace: ns, body: configMap(ns, 'first', { n: '0' }) });
    const start = (await core.listNamespacedConfigMap({ namespace: ns })).metadata?.resourceVersion;
    assert.ok(start);
    await core.patchNamespacedConfigMap(
      { name: 'first', namespace: ns, body: { data: { n: '1' } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await core.createNamespacedConfigMap({ namespace: ns, body: configMap(ns, 'second', { n: '0' }) });
    await core.deleteNamespacedConfigMap({ name: 'first', namespace: ns });

    const seen = await watchEvents(kc, path, { resourceVersion: start }, (events) => events.length === 3);
    assert.deepEqual(
      seen.map((event) => `${event.type} ${event.name}`),
      ['MODIFIED first', 'ADDED second', 'DELETED first'],
    );
    const resumed = await watchEvents(
      kc,
      path,
      { resourceVersion: seen[0]!.resourceVersion! },
      (events) => events.length === 2,
    );
    assert.deepEqual(
      resumed.map((event) => `${event.type} ${event.name}`),
      ['ADDED second', 'DELETED first'],
    );
    const bookmarked = await watchEvents(
      kc,
      path,
      { resourceVersion: seen[2]!.resourceVersion!, allowWatchBookmarks: true },
      (events) => events.some((event) => event.type === 'BOOKMARK'),
    );
    const bookmark = bookmarked.find((event) => event.type === 'BOOKMARK');
    assert.ok(Number(bookmark?.resourceVersion) >= Number(seen[2]!.resourceVersion));
    // Without a resourceVersion, the current objects come first.
    const initial = await watchEvents(kc, path, {}, (events) => events.length === 1);
    assert.deepEqual(
      initial.map((event) => `${event.type} ${event.name}`),
      ['ADDED second'],
    );
  });

  it('keeps an informer cache of a core and a custom kind, and resumes it after a stop', async () => {
    const ns = 'js-informer';
    await createNamespace(ns);
    const informer = makeInformer(kc, `/api/v1/namespaces/${ns}/configmaps`, () =>
      core.listNamespacedConfigMap({ namespace: ns }),
    );
    const events: string[] = [];
    informer.on('add', (object) => events.push(`add ${object.metadata?.name}`));
    informer.on('update', (object) => events.push(`update ${object.metadata?.name} ${object.data?.n}`));
    informer.on('delete', (object) => events.push(`delete ${object.metadata?.name}`));
    const errors: unknown[] = [];
    // Its own stop() aborts its watch, which it reports as an error: only others count.
    informer.on('error', (error) => {
      if ((error as { name?: string }).name !== 'AbortError') errors.push(error);
    });
    await core.createNamespacedConfigMap({ namespace: ns, body: configMap(ns, 'before', { n: '0' }) });
    await informer.start();
    try {
      await waitFor('the listed object', () => events.includes('add before'));
      await core.createNamespacedConfigMap({ namespace: ns, body: configMap(ns, 'after', { n: '0' }) });
      await core.patchNamespacedConfigMap(
        { name: 'after', namespace: ns, body: { data: { n: '1' } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      await core.deleteNamespacedConfigMap({ name: 'before', namespace: ns });
      await waitFor('the watched changes', () => events.includes('delete before'));
      assert.deepEqual(events, ['add before', 'add after', 'update after 1', 'delete before']);
      assert.deepEqual(
        informer.list(ns).map((object) => object.metadata?.name),
        ['after'],
      );

      // Stopped, it misses nothing: started again, it watches from the last resourceVersion it saw.
      await informer.stop();
      await core.patchNamespacedConfigMap(
        { name: 'after', namespace: ns, body: { data: { n: '2' } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      await informer.start();
      await waitFor('the change made while stopped', () => events.includes('update after 2'));
      assert.deepEqual(events.slice(4), ['update after 2']);
      assert.equal(informer.get('after', ns)?.data?.n, '2');
    } finally {
      await informer.stop();
    }

    const custom = kc.makeApiClient(CustomObjectsApi);
    const plural = { group: OUTPOST, version: VERSION, namespace: ns, plural: 'workloads' };
    const workloads = makeInformer<KubernetesObject>(
      kc,
      `/apis/${OUTPOST}/${VERSION}/namespaces/${ns}/workloads`,
      () => custom.listNamespacedCustomObject(plural),
    );
    const added: string[] = [];
    workloads.on('add', (object) => added.push(object.metadata?.name ?? ''));
    await workloads.start();
    try {
      await custom.createNamespacedCustomObject({ ...plural, body: workload(ns, 'informed') });
      await waitFor('the Workload in the informer', () => added.includes('informed'));
      assert.equal(workloads.get('informed', ns)?.metadata?.name, 'informed');
    } finally {
      await workloads.stop();
    }
    assert.deepEqual(errors, []);
  });

  it('discovers each kind with KubernetesObjectApi and applies server-side, forcing a conflict', async () => {
    const ns = 'js-objects';
    await createNamespace(ns);
    const objects = KubernetesObjectApi.makeApiClient(kc);
    const created = await objects.create(workload(ns, 'generic'));
    assert.equal(created.metadata?.namespace, ns);
    const read = (await objects.read({
      apiVersion: `${OUTPOST}/${VERSION}`,
      kind: 'Workload',
      metadata: { name: 'generic', namespace: ns },
    })) as KubernetesObject & { spec: { resources: Array<{ kind: string }> } };
    assert.equal(read.spec.resources[0]?.kind, 'Deployment');
    const list = await objects.list(`${OUTPOST}/${VERSION}`, 'Workload', ns);
    assert.deepEqual(
      list.items.map((item) => item.metadata?.name),
      ['generic'],
    );
    const device = await objects.create({
      apiVersion: `${OUTPOST}/${VERSION}`,
      kind: 'Device',
      metadata: { name: 'js-gw' },
    } as KubernetesObject);
    assert.equal(device.metadata?.name, 'js-gw');
    await objects.delete({
      apiVersion: `${OUTPOST}/${VERSION}`,
      kind: 'Device',
      metadata: { name: 'js-gw' },
    });

    const applied = (manager: string, level: string, force?: boolean) =>
      objects.patch(
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'applied', namespace: ns },
          data: { level },
        } as KubernetesObject,
        undefined,
        undefined,
        manager,
        force,
        PatchStrategy.ServerSideApply,
      ) as Promise<V1ConfigMap>;
    const first = await applied('team-a', 'info');
    assert.deepEqual(first.data, { level: 'info' });
    await failsWith(409, () => applied('team-b', 'debug'));
    const forced = await applied('team-b', 'debug', true);
    assert.deepEqual(forced.data, { level: 'debug' });
    assert.deepEqual(
      forced.metadata?.managedFields?.map((entry) => entry.manager),
      ['team-b'],
    );
    // Workloads too: a custom kind applied server-side, then again unchanged.
    const again = await objects.patch(
      workload(ns, 'generic'),
      undefined,
      undefined,
      'js-apply',
      true,
      PatchStrategy.ServerSideApply,
    );
    assert.equal(again.metadata?.name, 'generic');
  });
});
