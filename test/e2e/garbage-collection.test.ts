/**
 * Cascading deletion end to end: `outpost hub` as a process, kubectl's `--cascade` flag, owners and
 * dependents of several kinds and scopes, checked as a user would see them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  configMap,
  device,
  type KubectlHub,
  type Manifest,
  placement,
  startKubectlHub,
  workload,
  yamlOf,
} from '../support/index.ts';

interface Live {
  metadata: {
    uid: string;
    deletionTimestamp?: string;
    finalizers?: string[];
    ownerReferences?: Array<{ uid: string; name: string }>;
  };
}

describe('garbage collection with kubectl', () => {
  let k: KubectlHub;
  before(async () => {
    k = await startKubectlHub();
  });
  after(() => k.stop());

  const apply = (...manifests: Manifest[]) => k.ok(['apply', '-f', '-'], yamlOf(...manifests));
  /** The object as JSON, or undefined when kubectl says it is not found. */
  const get = async (resource: string, name: string, ns = 'default'): Promise<Live | undefined> => {
    const result = await k.run(['get', resource, name, ...(ns ? ['-n', ns] : []), '-o', 'json']);
    if (result.code !== 0) {
      assert.match(result.stderr, /NotFound|not found/, result.stderr);
      return undefined;
    }
    return JSON.parse(result.stdout) as Live;
  };
  const ownedBy = (owner: Live, kind: string, name: string, apiVersion: string, block?: boolean) => ({
    apiVersion,
    kind,
    name,
    uid: owner.metadata.uid,
    ...(block === undefined ? {} : { blockOwnerDeletion: block }),
  });
  const withOwners = (manifest: Manifest, owners: object[], extra: object = {}): Manifest => ({
    ...manifest,
    metadata: { ...manifest.metadata, ownerReferences: owners, ...extra },
  });
  const until = async (check: () => Promise<boolean>, what: string) => {
    const deadline = Date.now() + 30_000;
    while (!(await check())) {
      if (Date.now() > deadline) assert.fail(`timed out waiting: ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const goneEventually = (resource: string, name: string, ns = 'default') =>
    until(async () => (await get(resource, name, ns)) === undefined, `${resource} ${name} is deleted`);

  it('--cascade=background deletes the dependents of a ConfigMap and of a Workload', async () => {
    await apply(configMap('default', 'bg-owner', { a: '1' }), workload('default', 'bg-app'));
    const owner = (await get('configmap', 'bg-owner'))!;
    const app = (await get('workload', 'bg-app'))!;
    await apply(
      withOwners(configMap('default', 'bg-dep-1', {}), [ownedBy(owner, 'ConfigMap', 'bg-owner', 'v1')]),
      withOwners(configMap('default', 'bg-dep-2', {}), [ownedBy(owner, 'ConfigMap', 'bg-owner', 'v1')]),
      withOwners(placement('default', 'bg-place', 'bg-app', 'north'), [
        ownedBy(app, 'Workload', 'bg-app', 'outpost.dev/v1alpha1'),
      ]),
    );
    await k.ok(['delete', 'configmap', 'bg-owner', '--cascade=background']);
    await k.ok(['delete', 'workload', 'bg-app', '--cascade=background']);
    await goneEventually('configmap', 'bg-dep-1');
    await goneEventually('configmap', 'bg-dep-2');
    await goneEventually('placement', 'bg-place');
  });

  it('collects a ConfigMap owned by a cluster-scoped Device when the Device goes', async () => {
    await apply(device('gc-device-1', { site: 'north' }));
    const owner = (await get('device', 'gc-device-1', ''))!;
    await apply(
      withOwners(configMap('default', 'of-device', {}), [
        ownedBy(owner, 'Device', 'gc-device-1', 'outpost.dev/v1alpha1'),
      ]),
    );
    await k.ok(['delete', 'device', 'gc-device-1']);
    await goneEventually('configmap', 'of-device');
  });

  it('--cascade=foreground keeps the owner, marked, until its blocking dependents are gone', async () => {
    await apply(configMap('default', 'fg-owner', {}));
    const owner = (await get('configmap', 'fg-owner'))!;
    await apply(
      // Held by a finalizer of its own, so that the owner's wait can be seen.
      withOwners(configMap('default', 'fg-held', {}), [ownedBy(owner, 'ConfigMap', 'fg-owner', 'v1', true)], {
        finalizers: ['example.com/hold'],
      }),
      withOwners(configMap('default', 'fg-plain', {}), [ownedBy(owner, 'ConfigMap', 'fg-owner', 'v1', true)]),
    );
    await k.ok(['delete', 'configmap', 'fg-owner', '--cascade=foreground', '--wait=false']);
    await goneEventually('configmap', 'fg-plain');
    await until(
      async () => Boolean((await get('configmap', 'fg-held'))?.metadata.deletionTimestamp),
      'fg-held is deleted',
    );
    const waiting = await get('configmap', 'fg-owner');
    assert.ok(waiting, 'the owner is still visible');
    assert.ok(waiting.metadata.deletionTimestamp, 'with a deletionTimestamp');
    assert.deepEqual(waiting.metadata.finalizers, ['foregroundDeletion']);

    await k.ok(['patch', 'configmap', 'fg-held', '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
    await goneEventually('configmap', 'fg-held');
    await goneEventually('configmap', 'fg-owner');
  });

  it('--cascade=foreground with kubectl waiting returns once the owner and its dependents are gone', async () => {
    await apply(workload('default', 'fg-app'));
    const app = (await get('workload', 'fg-app'))!;
    await apply(
      withOwners(placement('default', 'fg-place', 'fg-app', 'south'), [
        ownedBy(app, 'Workload', 'fg-app', 'outpost.dev/v1alpha1', true),
      ]),
    );
    await k.ok(['delete', 'workload', 'fg-app', '--cascade=foreground', '--timeout=60s']);
    assert.equal(await get('workload', 'fg-app'), undefined);
    assert.equal(await get('placement', 'fg-place'), undefined);
  });

  it('--cascade=orphan removes the owner and leaves its dependents without the reference', async () => {
    await apply(configMap('default', 'or-owner', {}), configMap('default', 'or-other', {}));
    const owner = (await get('configmap', 'or-owner'))!;
    const other = (await get('configmap', 'or-other'))!;
    await apply(
      withOwners(configMap('default', 'or-dep', {}), [ownedBy(owner, 'ConfigMap', 'or-owner', 'v1')]),
      withOwners(configMap('default', 'or-shared', {}), [
        ownedBy(owner, 'ConfigMap', 'or-owner', 'v1'),
        ownedBy(other, 'ConfigMap', 'or-other', 'v1'),
      ]),
    );
    await k.ok(['delete', 'configmap', 'or-owner', '--cascade=orphan']);
    assert.equal(await get('configmap', 'or-owner'), undefined, 'kubectl waited for the owner to go');
    const dependent = await get('configmap', 'or-dep');
    assert.ok(dependent, 'the dependent stays');
    assert.equal(dependent.metadata.ownerReferences, undefined);
    const shared = await get('configmap', 'or-shared');
    assert.deepEqual(
      shared?.metadata.ownerReferences?.map((ref) => ref.name),
      ['or-other'],
    );
  });
});
