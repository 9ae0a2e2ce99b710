import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidManagedFieldsError } from './errors.ts';
import { FieldSet } from './fieldset.ts';
import { fieldElement, formatPath, keyElement, valueElement } from './path.ts';

/** managedFields of a Deployment created with kubectl, as a real apiserver wrote them. */
const KUBECTL_CREATE = {
  'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } },
  'f:spec': {
    'f:replicas': {},
    'f:selector': {},
    'f:strategy': { 'f:rollingUpdate': { '.': {}, 'f:maxSurge': {}, 'f:maxUnavailable': {} }, 'f:type': {} },
    'f:template': {
      'f:spec': {
        'f:containers': {
          'k:{"name":"nginx"}': { '.': {}, 'f:image': {}, 'f:name': {}, 'f:resources': {} },
        },
      },
    },
  },
};

describe('FieldSet', () => {
  test('decodes and re-encodes FieldsV1 written by the apiserver unchanged', () => {
    const set = FieldSet.fromFieldsV1(KUBECTL_CREATE);
    assert.deepEqual(set.toFieldsV1(), KUBECTL_CREATE);
    assert.equal(JSON.stringify(set.toFieldsV1()), JSON.stringify(KUBECTL_CREATE));
  });

  test('covers: every path of the other set is in this one; intersects: a path in common', () => {
    const set = FieldSet.fromFieldsV1(KUBECTL_CREATE);
    assert.equal(set.covers(FieldSet.of(['f:spec', 'f:replicas'], ['f:metadata', 'f:labels'])), true);
    assert.equal(set.covers(new FieldSet()), true);
    // A member is not the paths below it, nor a parent of members one of them.
    assert.equal(set.covers(FieldSet.of(['f:spec'])), false);
    assert.equal(set.covers(FieldSet.of(['f:metadata', 'f:labels', 'f:other'])), false);
    assert.equal(set.intersects(FieldSet.of(['f:x'], ['f:spec', 'f:strategy', 'f:type'])), true);
    assert.equal(set.intersects(FieldSet.of(['f:spec'], ['f:metadata', 'f:annotations'])), false);
    assert.equal(new FieldSet().intersects(set), false);
  });

  test('"." marks an element that is owned itself besides what is below it', () => {
    const set = FieldSet.fromFieldsV1(KUBECTL_CREATE);
    assert.equal(set.has(['f:metadata', 'f:labels']), true);
    assert.equal(set.has(['f:metadata', 'f:labels', 'f:app']), true);
    assert.equal(set.has(['f:spec']), false);
    assert.equal(set.has(['f:spec', 'f:replicas']), true);
  });

  test('encodes elements sorted: fields by name, then keys, then values', () => {
    const set = FieldSet.of(
      ['f:b'],
      ['f:a'],
      ['f:l', valueElement('y')],
      ['f:l', valueElement('x')],
      ['f:m', keyElement([['name', 'b']])],
      ['f:m', keyElement([['name', 'a']])],
    );
    assert.equal(
      JSON.stringify(set.toFieldsV1()),
      '{"f:a":{},"f:b":{},"f:l":{"v:\\"x\\"":{},"v:\\"y\\"":{}},"f:m":{"k:{\\"name\\":\\"a\\"}":{},"k:{\\"name\\":\\"b\\"}":{}}}',
    );
  });

  test('canonicalises keys so differently written FieldsV1 compare equal', () => {
    const a = FieldSet.fromFieldsV1({ 'f:p': { 'k:{"protocol":"TCP","containerPort":80}': {} } });
    const b = FieldSet.of([
      'f:p',
      keyElement([
        ['containerPort', 80],
        ['protocol', 'TCP'],
      ]),
    ]);
    assert.ok(a.equals(b));
    assert.deepEqual(Object.keys(a.toFieldsV1()['f:p'] ?? {}), ['k:{"containerPort":80,"protocol":"TCP"}']);
  });

  test('union, difference and intersection work on members, level by level', () => {
    const a = FieldSet.of(['f:x'], ['f:s', 'f:a'], ['f:s', 'f:b']);
    const b = FieldSet.of(['f:s', 'f:b'], ['f:s', 'f:c']);
    assert.deepEqual(a.union(b).paths().map(formatPath), ['.x', '.s.a', '.s.b', '.s.c']);
    assert.deepEqual(a.difference(b).paths().map(formatPath), ['.x', '.s.a']);
    assert.deepEqual(a.intersection(b).paths().map(formatPath), ['.s.b']);
  });

  test('difference keeps what is below a removed member; recursiveDifference removes it too', () => {
    const a = FieldSet.of(['f:s'], ['f:s', 'f:a']);
    const b = FieldSet.of(['f:s']);
    assert.deepEqual(a.difference(b).paths().map(formatPath), ['.s.a']);
    assert.ok(a.recursiveDifference(b).isEmpty());
    assert.deepEqual(a.within(b).paths().map(formatPath), ['.s', '.s.a']);
  });

  test('operations never change their inputs', () => {
    const a = FieldSet.of(['f:s', 'f:a']);
    const b = FieldSet.of(['f:s', 'f:b']);
    const u = a.union(b);
    u.insert(['f:s', 'f:z']);
    assert.deepEqual(a.paths().map(formatPath), ['.s.a']);
    assert.deepEqual(b.paths().map(formatPath), ['.s.b']);
  });

  test('the empty path is never a member: the root is not owned', () => {
    assert.ok(FieldSet.of([]).isEmpty());
  });

  test('formats paths as the apiserver does in conflict messages', () => {
    const path = [
      fieldElement('spec'),
      fieldElement('containers'),
      keyElement([['name', 'nginx']]),
      fieldElement('ports'),
      keyElement([
        ['protocol', 'TCP'],
        ['containerPort', 80],
      ]),
    ];
    assert.equal(formatPath(path), '.spec.containers[name="nginx"].ports[containerPort=80,protocol="TCP"]');
    assert.equal(formatPath(['f:metadata', 'f:finalizers', valueElement('a')]), '.metadata.finalizers[="a"]');
    assert.equal(formatPath(['f:spec', 'f:args', 'i:0']), '.spec.args[0]');
  });

  const invalid: [string, unknown][] = [
    ['a non-object document', []],
    ['a non-object entry', { 'f:a': 1 }],
    ['an unknown prefix', { 'x:a': {} }],
    ['a key that is not JSON', { 'k:{oops': {} }],
    ['a key that is not an object', { 'k:[1]': {} }],
    ['a negative index', { 'i:-1': {} }],
  ];
  for (const [what, doc] of invalid) {
    test(`rejects ${what} with InvalidManagedFieldsError`, () => {
      assert.throws(() => FieldSet.fromFieldsV1(doc), InvalidManagedFieldsError);
    });
  }
});
