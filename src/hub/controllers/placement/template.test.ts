// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${device...}` placeholders are the feature, written as users write them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalJson } from '../../../util/index.ts';
import { contentHash } from './hash.ts';
import { expand, expandString, MissingParameterError, parametersOf } from './template.ts';

const device = {
  name: 'gw-1',
  labels: { site: 'plant-a', 'topology.outpost.dev/line': '3' },
  annotations: { 'outpost.dev/owner': 'ops' },
};

describe('device parameters in workload objects', () => {
  it('expands the device name, labels (dotted and slashed keys) and annotations', () => {
    assert.equal(
      expandString('${device.name}@${device.labels.site}/${device.labels.topology.outpost.dev/line}', device),
      'gw-1@plant-a/3',
    );
    assert.equal(expandString('owner=${device.annotations.outpost.dev/owner}', device), 'owner=ops');
  });

  it('treats $${ as a literal ${ and leaves other ${...} (shell variables) as written', () => {
    assert.equal(expandString('$${device.name} is ${device.name}', device), '${device.name} is gw-1');
    assert.equal(expandString('echo ${HOME} $${X}', device), 'echo ${HOME} ${X}');
    assert.equal(expandString('unterminated ${device.name', device), 'unterminated ${device.name');
  });

  it('expands every string of an object, map keys included, without touching the input', () => {
    const object = {
      metadata: { name: 'cfg-${device.name}', labels: { site: '${device.labels.site}' } },
      data: { '${device.name}.conf': 'line=${device.labels.topology.outpost.dev/line}' },
      spec: { replicas: 1, args: ['--site', '${device.labels.site}'], enabled: true, none: null },
    };
    const copy = structuredClone(object);
    assert.deepEqual(expand(object, device), {
      metadata: { name: 'cfg-gw-1', labels: { site: 'plant-a' } },
      data: { 'gw-1.conf': 'line=3' },
      spec: { replicas: 1, args: ['--site', 'plant-a'], enabled: true, none: null },
    });
    assert.deepEqual(object, copy);
    const shared = { ...object, plain: { a: ['x', { b: 'y' }] } };
    assert.equal(
      expand(shared, device).plain,
      shared.plain,
      'parts without parameters are shared, not copied',
    );
  });

  it('names the parameter a device lacks, and unknown parameters', () => {
    assert.throws(
      () => expand({ a: '${device.labels.zone}' }, device),
      (error: unknown) => error instanceof MissingParameterError && error.parameter === 'device.labels.zone',
    );
    assert.throws(
      () => expandString('${device.uid}', device),
      (error: unknown) => error instanceof MissingParameterError && error.parameter === 'device.uid',
    );
  });

  it('lists the parameters an object uses', () => {
    assert.deepEqual(
      [...parametersOf({ a: ['${device.name}', { '${device.labels.x}': '$${device.labels.y}' }] })].sort(),
      ['device.labels.x', 'device.name'],
    );
  });
});

describe('content hash', () => {
  it('is the same for the same rendering and changes with content', () => {
    assert.equal(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] }), '{"a":[{"c":3,"d":2}],"b":1}');
    assert.equal(contentHash({ a: 1, b: [2] }), contentHash(JSON.parse('{"a":1,"b":[2]}')));
    assert.notEqual(contentHash({ a: 1 }), contentHash({ a: 2 }));
    assert.match(contentHash({}), /^sha256:[0-9a-f]{32}$/);
  });
});
