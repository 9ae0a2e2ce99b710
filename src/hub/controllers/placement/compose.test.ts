// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${device...}` placeholders are the feature, written as users write them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Placement, Workload } from '../../../api/index.ts';
import { composeMailbox, type PlacedWorkload, precedenceKey } from './compose.ts';
import { WorkloadRenderer } from './render.ts';
import { DeviceLabelIndex } from './selection.ts';

function workload(name: string, created: string, resources: unknown[], namespace = 'team'): Workload {
  return {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Workload',
    metadata: { name, namespace, creationTimestamp: created },
    spec: { resources: resources as Workload['spec']['resources'] },
  };
}

function placement(overrides: unknown[] = []): Placement {
  return {
    metadata: { name: 'pl', namespace: 'team' },
    spec: {
      workloadSelector: {},
      deviceSelector: {},
      customization: { overrides: overrides as never },
    },
  } as Placement;
}

const configMap = (name: string, data: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name },
  data,
});

function placed(w: Workload, p: Placement = placement()): PlacedWorkload {
  return {
    source: { namespace: w.metadata!.namespace!, workload: w.metadata!.name!, placement: 'pl' },
    precedence: precedenceKey(w),
    renderer: new WorkloadRenderer(p, w),
  };
}

const gw1 = { name: 'gw-1', labels: { site: 'a', tier: 'edge' } };
const gw2 = { name: 'gw-2', labels: { site: 'b' } };

describe('composing a device Mailbox', () => {
  it('customises every object, fills the namespace, hashes it and orders by source and position', () => {
    const web = workload('web', '2026-01-02T00:00:00Z', [
      configMap('cfg', { site: '${device.labels.site}' }),
      configMap('static', { a: '1' }),
    ]);
    const api = workload('api', '2026-01-03T00:00:00Z', [configMap('api', { who: '${device.name}' })]);
    const spec = composeMailbox(gw1, [placed(web), placed(api)], undefined, '2026-02-01T00:00:00Z');
    assert.deepEqual(
      spec.objects.map((o) => [o.source.workload, o.object.metadata.name, o.object.metadata.namespace]),
      [
        ['api', 'api', 'team'],
        ['web', 'cfg', 'team'],
        ['web', 'static', 'team'],
      ],
    );
    assert.deepEqual((spec.objects[1]!.object as { data?: unknown }).data, { site: 'a' });
    assert.equal(spec.excluded, undefined);
    assert.ok(spec.objects.every((o) => /^sha256:/.test(o.hash) && o.since === '2026-02-01T00:00:00Z'));
    // Same inputs, same spec; the `since` of unchanged content is kept.
    const again = composeMailbox(gw1, [placed(api), placed(web)], spec, '2026-03-01T00:00:00Z');
    assert.deepEqual(again, spec);
  });

  it('gives a new since only to objects whose content changed', () => {
    const v1 = workload('web', '2026-01-02T00:00:00Z', [
      configMap('a', { v: '1' }),
      configMap('b', { v: '1' }),
    ]);
    const v2 = workload('web', '2026-01-02T00:00:00Z', [
      configMap('a', { v: '1' }),
      configMap('b', { v: '2' }),
    ]);
    const first = composeMailbox(gw1, [placed(v1)], undefined, 'T1');
    const second = composeMailbox(gw1, [placed(v2)], first, 'T2');
    assert.deepEqual(
      second.objects.map((o) => o.since),
      ['T1', 'T2'],
    );
    assert.equal(second.objects[0]!.hash, first.objects[0]!.hash);
    assert.notEqual(second.objects[1]!.hash, first.objects[1]!.hash);
  });

  it('after a change of one override, renders anew only the objects it touches, the rest taken as they were', () => {
    const w = workload('web', '2026-01-02T00:00:00Z', [
      { ...configMap('cfg', { who: '${device.name}' }) },
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p-${device.name}' }, spec: { containers: [] } },
    ]);
    const limit = (memory: string) => ({
      target: { kind: 'Pod' },
      patch: [{ op: 'add', path: '/metadata/labels', value: { memory } }],
    });
    const first = composeMailbox(gw1, [placed(w, placement([limit('1Gi')]))], undefined, 'T1');
    // A new Placement generation: new renderers for every Workload it places, as the controller makes.
    const changed = placed(w, placement([limit('2Gi')]));
    const second = composeMailbox(gw1, [changed], first, 'T2');
    assert.equal(
      second.objects[0]!.object,
      first.objects[0]!.object,
      'the ConfigMap is the one rendered before',
    );
    assert.equal(second.objects[0]!.since, 'T1');
    assert.notEqual(second.objects[1]!.hash, first.objects[1]!.hash);
    assert.deepEqual((second.objects[1]!.object.metadata as { labels?: unknown }).labels, { memory: '2Gi' });
    // Exactly what composing from nothing gives (since aside).
    const fresh = composeMailbox(gw1, [placed(w, placement([limit('2Gi')]))], undefined, 'T2');
    assert.deepEqual(
      second.objects.map((o) => ({ ...o, since: 'x' })),
      fresh.objects.map((o) => ({ ...o, since: 'x' })),
    );
    // Another device's previous objects are never taken: their parameter values differ.
    const onOther = composeMailbox(gw2, [changed], second, 'T3');
    assert.deepEqual((onOther.objects[0]!.object as { data?: unknown }).data, { who: 'gw-2' });
    assert.equal(onOther.objects[1]!.object.metadata.name, 'p-gw-2');
  });

  it('leaves out an object whose parameter the device lacks, and only that object', () => {
    const w = workload('web', 'T', [configMap('zone', { z: '${device.labels.zone}' }), configMap('ok', {})]);
    const spec = composeMailbox(gw1, [placed(w)], undefined, 'T');
    assert.deepEqual(
      spec.objects.map((o) => o.object.metadata.name),
      ['ok'],
    );
    assert.equal(spec.excluded?.length, 1);
    assert.equal(spec.excluded![0]!.reason, 'MissingParameter');
    assert.equal(spec.excluded![0]!.ref.name, 'zone');
    assert.match(spec.excluded![0]!.message, /\$\{device\.labels\.zone\} is not set/);
  });

  it('leaves out the later Workload (by creation time) of two placing the same kind, namespace and name', () => {
    const older = workload('b-old', '2026-01-01T00:00:00Z', [configMap('shared', { from: 'old' })]);
    const newer = workload('a-new', '2026-01-05T00:00:00Z', [configMap('shared', { from: 'new' })]);
    const spec = composeMailbox(gw1, [placed(newer), placed(older)], undefined, 'T');
    assert.deepEqual(
      spec.objects.map((o) => [o.source.workload, (o.object as { data?: unknown }).data]),
      [['b-old', { from: 'old' }]],
    );
    assert.equal(spec.excluded?.[0]?.reason, 'Conflict');
    assert.equal(spec.excluded?.[0]?.source.workload, 'a-new');
    assert.match(spec.excluded![0]!.message, /already placed on this device by Workload team\/b-old/);
  });

  it('applies overrides in order only on matching devices and targets, before parameters', () => {
    const p = placement([
      {
        deviceSelector: { matchLabels: { tier: 'edge' } },
        target: { kind: 'ConfigMap', name: 'cfg' },
        patch: [
          { op: 'add', path: '/data/mode', value: 'edge-${device.labels.site}' },
          { op: 'replace', path: '/data/mode', value: 'edge2-${device.labels.site}' },
        ],
      },
      { deviceSelector: {}, target: { name: 'other' }, patch: [{ op: 'add', path: '/data/x', value: 'y' }] },
    ]);
    const w = workload('web', 'T', [configMap('cfg', { a: '1' }), configMap('other', {})]);
    const onEdge = composeMailbox(gw1, [placed(w, p)], undefined, 'T');
    const onOther = composeMailbox(gw2, [placed(w, p)], undefined, 'T');
    assert.deepEqual((onEdge.objects[0]!.object as { data?: unknown }).data, { a: '1', mode: 'edge2-a' });
    assert.deepEqual((onOther.objects[0]!.object as { data?: unknown }).data, { a: '1' });
    assert.deepEqual((onEdge.objects[1]!.object as { data?: unknown }).data, { x: 'y' });
    assert.deepEqual((onOther.objects[1]!.object as { data?: unknown }).data, { x: 'y' });
  });

  it('reports an override that cannot apply like a missing parameter', () => {
    const p = placement([
      {
        deviceSelector: { matchLabels: { site: 'a' } },
        patch: [{ op: 'test', path: '/data/a', value: 'nope' }],
      },
    ]);
    const w = workload('web', 'T', [configMap('cfg', { a: '1' })]);
    const spec = composeMailbox(gw1, [placed(w, p)], undefined, 'T');
    assert.equal(spec.objects.length, 0);
    assert.equal(spec.excluded?.[0]?.reason, 'PatchFailed');
    assert.match(spec.excluded![0]!.message, /override 0 cannot apply: .*test failed/);
    assert.equal(composeMailbox(gw2, [placed(w, p)], undefined, 'T').objects.length, 1);
  });

  it('leaves out an object an override would make privileged, hostPID or hostPath, keeping what the Workload had', () => {
    const pod = (spec: Record<string, unknown>) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web' },
      spec: { containers: [{ name: 'main', image: 'busybox', command: ['sleep', '1'] }], ...spec },
    });
    const attacks = [
      [{ op: 'add', path: '/spec/containers/0/securityContext', value: { privileged: true } }],
      [{ op: 'add', path: '/spec/hostPID', value: true }],
      [{ op: 'add', path: '/spec/volumes', value: [{ name: 'root', hostPath: { path: '/' } }] }],
      [{ op: 'replace', path: '/spec', value: { hostIPC: true, containers: [] } }],
    ];
    for (const patch of attacks) {
      const spec = composeMailbox(
        gw1,
        [placed(workload('web', 'T', [pod({})]), placement([{ deviceSelector: {}, patch }]))],
        undefined,
        'T',
      );
      assert.equal(spec.objects.length, 0, JSON.stringify(patch));
      assert.equal(spec.excluded?.[0]?.reason, 'PatchFailed');
      assert.match(spec.excluded![0]!.message, /override.* would add what Pod Security forbids \(spec\./);
    }
    // What the Workload itself carries (admitted in its namespace, or the connector's host network) stays.
    const hostNetwork = workload('web', 'T', [pod({ hostNetwork: true })]);
    const relabel = [{ op: 'add', path: '/metadata/labels', value: { site: 'a' } }];
    const kept = composeMailbox(
      gw1,
      [placed(hostNetwork, placement([{ deviceSelector: {}, patch: relabel }]))],
      undefined,
      'T',
    );
    assert.equal(kept.objects.length, 1);
  });

  it('renders a static object once for many devices (shared result)', () => {
    const renderer = new WorkloadRenderer(
      placement(),
      workload('web', 'T', [
        configMap('static', { a: '1' }),
        configMap('site', { s: '${device.labels.site}' }),
      ]),
    );
    const a = renderer.render(0, gw1);
    const b = renderer.render(0, gw2);
    assert.ok(a.ok && b.ok && a.object === b.object);
    const s1 = renderer.render(1, gw1);
    const s2 = renderer.render(1, { name: 'gw-9', labels: { site: 'a' } });
    assert.ok(s1.ok && s2.ok && s1.object === s2.object, 'same site, same rendering');
  });

  it('marks the runnable objects of a rootless Workload, with a hash of their own', () => {
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [] } };
    const plain = workload('web', 'T', [configMap('cfg', { a: '1' }), pod]);
    const rootless = { ...plain, spec: { ...plain.spec, rootless: true } };
    const before = composeMailbox(gw1, [placed(plain)], undefined, 'T0').objects;
    const after = composeMailbox(gw1, [placed(rootless)], undefined, 'T0').objects;
    assert.deepEqual(
      after.map((o) => [o.object.kind, o.rootless]),
      [
        ['ConfigMap', undefined],
        ['Pod', true],
      ],
    );
    assert.equal(before[1]!.rootless, undefined);
    assert.equal(after[0]!.hash, before[0]!.hash, 'a ConfigMap does not run: unchanged');
    assert.notEqual(after[1]!.hash, before[1]!.hash, 'turning rootless on replaces the Pod');
  });
});

describe('device label index', () => {
  it('selects with matchLabels and every matchExpressions operator', () => {
    const index = new DeviceLabelIndex();
    index.set('a', { site: 'x', tier: 'edge' });
    index.set('b', { site: 'y', tier: 'edge' });
    index.set('c', { site: 'z' });
    const sel = (s: object) => index.select(s).sort();
    assert.deepEqual(sel({ matchLabels: { tier: 'edge' } }), ['a', 'b']);
    assert.deepEqual(sel({ matchExpressions: [{ key: 'site', operator: 'In', values: ['x', 'z'] }] }), [
      'a',
      'c',
    ]);
    assert.deepEqual(sel({ matchExpressions: [{ key: 'site', operator: 'NotIn', values: ['x'] }] }), [
      'b',
      'c',
    ]);
    assert.deepEqual(sel({ matchExpressions: [{ key: 'tier', operator: 'Exists' }] }), ['a', 'b']);
    assert.deepEqual(sel({ matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] }), ['c']);
    assert.deepEqual(sel({}), ['a', 'b', 'c']);
    index.set('a', { site: 'z' });
    assert.deepEqual(sel({ matchLabels: { tier: 'edge' } }), ['b']);
    index.delete('b');
    assert.deepEqual(sel({ matchLabels: { tier: 'edge' } }), []);
    const selector = { matchLabels: { site: 'z' } };
    assert.deepEqual([...index.selectCached(selector)].sort(), ['a', 'c']);
    assert.equal(index.selectCached(selector), index.selectCached(selector), 'remembered until a change');
    index.set('d', { site: 'z' });
    assert.deepEqual([...index.selectCached(selector)].sort(), ['a', 'c', 'd']);
  });
});
