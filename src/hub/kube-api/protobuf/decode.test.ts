/**
 * Kubernetes protobuf request bodies decoded: the envelope, the core kinds' messages with their
 * full ObjectMeta, unknown fields of every wire type, and malformed bytes. Bytes are built by the
 * encoder fixture, or copied from what kubectl 1.32 sent (`-v=9`).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeKubernetesProtobuf, ProtobufMalformedError, ProtobufUnsupportedError } from './decode.ts';
import { bool, bytes, entry, envelope, hex, int, msg, str, tag, time } from './encoder.fixture.ts';

/** 2026-01-02T03:04:05Z */
const T = Date.UTC(2026, 0, 2, 3, 4, 5) / 1000;

describe('decodeKubernetesProtobuf', () => {
  it('decodes the bytes kubectl 1.32 sends for `create namespace` into the JSON form', () => {
    const body =
      hex(`6b 38 73 00 0a 0f 0a 02 76 31 12 09 4e 61 6d 65 73 70 61 63 65 12 1e 0a 16 0a 06 74 65 61 6d 2d
      61 12 00 1a 00 22 00 2a 00 32 00 38 00 42 00 12 00 1a 02 0a 00 1a 00 22 00`);
    assert.deepEqual(decodeKubernetesProtobuf(body), {
      kind: 'Namespace',
      apiVersion: 'v1',
      metadata: { name: 'team-a' },
      spec: {},
      status: {},
    });
  });

  it('decodes kubectl 1.32 `create configmap` bytes, binaryData base64', () => {
    const body =
      hex(`6b 38 73 00 0a 0f 0a 02 76 31 12 09 43 6f 6e 66 69 67 4d 61 70 12 4f 0a 19 0a 02 63 31 12 00 1a
      07 64 65 66 61 75 6c 74 22 00 2a 00 32 00 38 00 42 00 12 06 0a 01 61 12 01 62 12 17 0a 07 63 66 67 2e
      74 78 74 12 0c 6c 69 6e 65 31 0a 6c 69 6e 65 32 0a 1a 11 0a 07 62 69 6e 2e 64 61 74 12 06 ff fe 00 62
      69 6e 1a 00 22 00`);
    assert.deepEqual(decodeKubernetesProtobuf(body), {
      kind: 'ConfigMap',
      apiVersion: 'v1',
      metadata: { name: 'c1', namespace: 'default' },
      data: { a: 'b', 'cfg.txt': 'line1\nline2\n' },
      binaryData: { 'bin.dat': Buffer.from([0xff, 0xfe, 0x00, 0x62, 0x69, 0x6e]).toString('base64') },
    });
  });

  it('decodes kubectl 1.32 `create secret generic` bytes, data base64', () => {
    const body =
      hex(`6b 38 73 00 0a 0c 0a 02 76 31 12 06 53 65 63 72 65 74 12 32 0a 19 0a 02 73 31 12 00 1a 07 64 65
      66 61 75 6c 74 22 00 2a 00 32 00 38 00 42 00 12 0d 0a 08 70 61 73 73 77 6f 72 64 12 01 78 1a 06 4f 70
      61 71 75 65 1a 00 22 00`);
    assert.deepEqual(decodeKubernetesProtobuf(body), {
      kind: 'Secret',
      apiVersion: 'v1',
      metadata: { name: 's1', namespace: 'default' },
      data: { password: 'eA==' },
      type: 'Opaque',
    });
  });

  it('decodes every ObjectMeta field', () => {
    const meta = msg(
      1,
      str(1, 'c1'),
      str(2, 'c-'),
      str(3, 'team-a'),
      str(4, '/api/v1/namespaces/team-a/configmaps/c1'),
      str(5, 'uid-1'),
      str(6, '42'),
      int(7, 3),
      time(8, T, 999_000_000),
      time(9, T + 60),
      int(10, 0),
      entry(11, 'app', 'web'),
      entry(11, 'tier', 'front'),
      entry(12, 'note', 'hello'),
      msg(
        13,
        str(1, 'Workload'),
        str(3, 'w1'),
        str(4, 'uid-w'),
        str(5, 'outpost.dev/v1alpha1'),
        bool(6, true),
        bool(7, false),
      ),
      str(14, 'outpost.dev/cleanup'),
      str(14, 'second'),
      msg(
        17,
        str(1, 'kubectl'),
        str(2, 'Update'),
        str(3, 'v1'),
        time(4, T),
        str(6, 'FieldsV1'),
        msg(7, str(1, '{"f:data":{"f:a":{}}}')),
        str(8, 'status'),
      ),
    );
    assert.deepEqual(decodeKubernetesProtobuf(envelope('v1', 'ConfigMap', meta)), {
      kind: 'ConfigMap',
      apiVersion: 'v1',
      metadata: {
        name: 'c1',
        generateName: 'c-',
        namespace: 'team-a',
        selfLink: '/api/v1/namespaces/team-a/configmaps/c1',
        uid: 'uid-1',
        resourceVersion: '42',
        generation: 3,
        creationTimestamp: '2026-01-02T03:04:05Z',
        deletionTimestamp: '2026-01-02T03:05:05Z',
        deletionGracePeriodSeconds: 0,
        labels: { app: 'web', tier: 'front' },
        annotations: { note: 'hello' },
        ownerReferences: [
          {
            apiVersion: 'outpost.dev/v1alpha1',
            kind: 'Workload',
            name: 'w1',
            uid: 'uid-w',
            controller: true,
            blockOwnerDeletion: false,
          },
        ],
        finalizers: ['outpost.dev/cleanup', 'second'],
        managedFields: [
          {
            manager: 'kubectl',
            operation: 'Update',
            apiVersion: 'v1',
            time: '2026-01-02T03:04:05Z',
            fieldsType: 'FieldsV1',
            fieldsV1: { 'f:data': { 'f:a': {} } },
            subresource: 'status',
          },
        ],
      },
    });
  });

  it('leaves out zero fields as omitempty does, but keeps fields Go prints always', () => {
    const ownerRef = msg(13, str(3, 'w1'));
    const raw = [...msg(1, str(1, ''), int(7, 0), msg(8), ownerRef), ...bool(4, false)];
    assert.deepEqual(decodeKubernetesProtobuf(envelope('v1', 'ConfigMap', raw)), {
      kind: 'ConfigMap',
      apiVersion: 'v1',
      metadata: { ownerReferences: [{ apiVersion: '', kind: '', name: 'w1', uid: '' }] },
      immutable: false,
    });
  });

  it('decodes a Secret with stringData, immutable and an empty value', () => {
    const raw = [
      ...msg(1, str(1, 's')),
      ...entry(2, 'bin', [0, 1, 2]),
      ...msg(2, str(1, 'empty')),
      ...entry(4, 'plain', 'text'),
      ...str(3, 'kubernetes.io/tls'),
      ...bool(5, true),
    ];
    assert.deepEqual(decodeKubernetesProtobuf(envelope('v1', 'Secret', raw)), {
      kind: 'Secret',
      apiVersion: 'v1',
      metadata: { name: 's' },
      data: { bin: 'AAEC', empty: '' },
      stringData: { plain: 'text' },
      type: 'kubernetes.io/tls',
      immutable: true,
    });
  });

  it('decodes a Namespace with spec finalizers and status conditions', () => {
    const raw = [
      ...msg(1, str(1, 'ns')),
      ...msg(2, str(1, 'kubernetes')),
      ...msg(
        3,
        str(1, 'Terminating'),
        msg(
          2,
          str(1, 'NamespaceDeletionContentFailure'),
          str(2, 'False'),
          time(4, T),
          str(5, 'Done'),
          str(6, 'ok'),
        ),
      ),
    ];
    assert.deepEqual(decodeKubernetesProtobuf(envelope('v1', 'Namespace', raw)), {
      kind: 'Namespace',
      apiVersion: 'v1',
      metadata: { name: 'ns' },
      spec: { finalizers: ['kubernetes'] },
      status: {
        phase: 'Terminating',
        conditions: [
          {
            type: 'NamespaceDeletionContentFailure',
            status: 'False',
            lastTransitionTime: '2026-01-02T03:04:05Z',
            reason: 'Done',
            message: 'ok',
          },
        ],
      },
    });
  });

  it('decodes an Event with its references, times, micro time and series', () => {
    const ref = (field: number, name: string) =>
      msg(
        field,
        str(1, 'Pod'),
        str(2, 'team-a'),
        str(3, name),
        str(4, 'u'),
        str(5, 'v1'),
        str(6, '7'),
        str(7, 'spec.containers{a}'),
      );
    const raw = [
      ...msg(1, str(1, 'e1'), str(3, 'team-a')),
      ...ref(2, 'p1'),
      ...str(3, 'Started'),
      ...str(4, 'started it'),
      ...msg(5, str(1, 'agent'), str(2, 'gw-1')),
      ...time(6, T),
      ...time(7, T + 1),
      ...int(8, 2),
      ...str(9, 'Normal'),
      ...time(10, T, 123_456_789),
      ...msg(11, int(1, 5), time(2, T + 2, 1000)),
      ...str(12, 'Run'),
      ...ref(13, 'p2'),
      ...str(15, 'agent-gw-1'),
    ];
    const reference = (name: string) => ({
      kind: 'Pod',
      namespace: 'team-a',
      name,
      uid: 'u',
      apiVersion: 'v1',
      resourceVersion: '7',
      fieldPath: 'spec.containers{a}',
    });
    assert.deepEqual(decodeKubernetesProtobuf(envelope('v1', 'Event', raw)), {
      kind: 'Event',
      apiVersion: 'v1',
      metadata: { name: 'e1', namespace: 'team-a' },
      involvedObject: reference('p1'),
      reason: 'Started',
      message: 'started it',
      source: { component: 'agent', host: 'gw-1' },
      firstTimestamp: '2026-01-02T03:04:05Z',
      lastTimestamp: '2026-01-02T03:04:06Z',
      count: 2,
      type: 'Normal',
      eventTime: '2026-01-02T03:04:05.123456Z',
      series: { count: 5, lastObservedTime: '2026-01-02T03:04:07.000001Z' },
      action: 'Run',
      related: reference('p2'),
      // Go prints reportingComponent without omitempty.
      reportingComponent: '',
      reportingInstance: 'agent-gw-1',
    });
  });

  it('decodes DeleteOptions whatever group version wraps them', () => {
    const raw = [
      ...int(1, 0),
      ...msg(2, str(1, 'uid-1'), str(2, '9')),
      ...str(4, 'Foreground'),
      ...str(5, 'All'),
    ];
    assert.deepEqual(decodeKubernetesProtobuf(envelope('outpost.dev/v1alpha1', 'DeleteOptions', raw)), {
      kind: 'DeleteOptions',
      apiVersion: 'outpost.dev/v1alpha1',
      gracePeriodSeconds: 0,
      preconditions: { uid: 'uid-1', resourceVersion: '9' },
      propagationPolicy: 'Foreground',
      dryRun: ['All'],
    });
  });

  it('decodes negative integers written as ten-byte varints', () => {
    const raw = msg(1, str(1, 'x'), int(10, -1), int(7, -5));
    const decoded = decodeKubernetesProtobuf(envelope('v1', 'ConfigMap', raw)) as {
      metadata: Record<string, unknown>;
    };
    assert.equal(decoded.metadata.deletionGracePeriodSeconds, -1);
    assert.equal(decoded.metadata.generation, -5);
  });

  it('skips unknown fields of every wire type, at the top and inside messages', () => {
    const unknown = (field: number) => [
      ...int(field, 300),
      ...tag(field + 1, 1),
      ...[1, 2, 3, 4, 5, 6, 7, 8],
      ...bytes(field + 2, [9, 9, 9]),
      ...tag(field + 3, 3),
      ...int(1, 1),
      ...tag(2, 3),
      ...str(1, 'nested'),
      ...tag(2, 4),
      ...tag(field + 3, 4),
      ...tag(field + 4, 5),
      ...[1, 2, 3, 4],
    ];
    const raw = [
      ...unknown(20),
      ...msg(1, ...[unknown(30)], str(1, 'c1'), msg(13, unknown(40), str(3, 'w'))),
      ...entry(2, 'a', 'b'),
      ...unknown(50),
    ];
    const extraEnvelope = [...unknown(10)];
    assert.deepEqual(decodeKubernetesProtobuf(envelope('v1', 'ConfigMap', raw, extraEnvelope)), {
      kind: 'ConfigMap',
      apiVersion: 'v1',
      metadata: { name: 'c1', ownerReferences: [{ apiVersion: '', kind: '', name: 'w', uid: '' }] },
      data: { a: 'b' },
    });
  });

  it('keeps the last of repeated occurrences of a field and of a map key', () => {
    const raw = [
      ...msg(1, str(1, 'first'), str(1, 'last')),
      ...entry(2, 'k', 'one'),
      ...entry(2, 'k', 'two'),
    ];
    assert.deepEqual(decodeKubernetesProtobuf(envelope('v1', 'ConfigMap', raw)), {
      kind: 'ConfigMap',
      apiVersion: 'v1',
      metadata: { name: 'last' },
      data: { k: 'two' },
    });
  });

  it('keeps a "__proto__" map key as an own key, as JSON.parse does', () => {
    const decoded = decodeKubernetesProtobuf(envelope('v1', 'ConfigMap', [...entry(2, '__proto__', 'x')]));
    assert.deepEqual(decoded.data, JSON.parse('{"__proto__":"x"}'));
    assert.equal(Object.getPrototypeOf(decoded.data), Object.prototype);
  });

  it('parses raw JSON when the envelope says its content type is JSON', () => {
    const json = Buffer.from(JSON.stringify({ metadata: { name: 'j' }, data: { a: 'b' } }));
    const body = envelope('v1', 'ConfigMap', Array.from(json), str(4, 'application/json'));
    assert.deepEqual(decodeKubernetesProtobuf(body), {
      kind: 'ConfigMap',
      apiVersion: 'v1',
      metadata: { name: 'j' },
      data: { a: 'b' },
    });
  });

  it('refuses a kind it cannot decode as unsupported, naming the kind', () => {
    assert.throws(
      () => decodeKubernetesProtobuf(envelope('v1', 'Pod', msg(1, str(1, 'p')))),
      (error: Error) => {
        assert.ok(error instanceof ProtobufUnsupportedError);
        assert.match(error.message, /not v1 Pod/);
        assert.match(error.message, /v1 ConfigMap/);
        return true;
      },
    );
    assert.throws(
      () => decodeKubernetesProtobuf(envelope('v1', 'ConfigMap', [], str(3, 'gzip'))),
      ProtobufUnsupportedError,
    );
    assert.throws(
      () => decodeKubernetesProtobuf(envelope('v1', 'ConfigMap', [], str(4, 'application/cbor'))),
      ProtobufUnsupportedError,
    );
  });

  const malformed: Array<[string, Uint8Array, RegExp]> = [
    ['a body without the k8s prefix', Uint8Array.from(Buffer.from('{"kind":"ConfigMap"}')), /k8s/],
    ['a body that is only the prefix', Uint8Array.from([0x6b, 0x38, 0x73, 0x00]), /apiVersion or kind/],
    ['a truncated varint', envelope('v1', 'ConfigMap', [0x38, 0x80]), /ConfigMap: truncated varint/],
    [
      'a length past the end',
      envelope('v1', 'ConfigMap', [0x0a, 0x10, 0x0a]),
      /ConfigMap: length 16 runs past the end/,
    ],
    ['an invalid wire type', envelope('v1', 'ConfigMap', [...tag(99, 7)]), /invalid wire type 7/],
    ['an end group without a start', envelope('v1', 'ConfigMap', [...tag(99, 4)]), /unexpected end of group/],
    [
      'a group without an end',
      envelope('v1', 'ConfigMap', [...tag(99, 3), ...int(1, 1)]),
      /group 99 has no end/,
    ],
    ['a fixed64 past the end', envelope('v1', 'ConfigMap', [...tag(99, 1), 1, 2]), /runs past the end/],
    ['field number zero', envelope('v1', 'ConfigMap', [0x02, 0x00]), /invalid field number 0/],
    [
      'a known field with the wrong wire type',
      envelope('v1', 'ConfigMap', int(1, 5)),
      /ConfigMap: field 1 \(metadata\) has wire type 0, expected 2/,
    ],
    [
      'a time past year 9999',
      envelope('v1', 'ConfigMap', msg(1, time(8, 253402300800))),
      /creationTimestamp: seconds .* outside/,
    ],
    [
      'managed fields that are not JSON',
      envelope('v1', 'ConfigMap', msg(1, msg(17, msg(7, str(1, '{nope'))))),
      /fieldsV1: Raw is not JSON/,
    ],
    [
      'an over-long varint',
      envelope('v1', 'ConfigMap', [0x38, ...new Array(10).fill(0x80), 0x01]),
      /longer than 10 bytes/,
    ],
  ];
  it('answers any bytes with an object or a protobuf error, never anything else', () => {
    const kubectlSecret = Array.from(
      hex(`6b 38 73 00 0a 0c 0a 02 76 31 12 06 53 65 63 72 65 74 12 32 0a 19 0a 02 73 31 12 00 1a 07 64 65
        66 61 75 6c 74 22 00 2a 00 32 00 38 00 42 00 12 0d 0a 08 70 61 73 73 77 6f 72 64 12 01 78 1a 06 4f 70
        61 71 75 65 1a 00 22 00`),
    );
    const kinds = ['Namespace', 'ConfigMap', 'Secret', 'Event', 'DeleteOptions'];
    const bodies = fc.oneof(
      // Random message bytes inside a valid envelope of each kind.
      fc
        .tuple(fc.constantFrom(...kinds), fc.uint8Array({ maxLength: 300 }))
        .map(([kind, raw]) => envelope('v1', kind, Array.from(raw))),
      // kubectl's own bytes with some bytes changed and maybe cut short.
      fc
        .tuple(
          fc.array(fc.tuple(fc.nat(kubectlSecret.length - 1), fc.integer({ min: 0, max: 255 })), {
            maxLength: 4,
          }),
          fc.nat(kubectlSecret.length),
        )
        .map(([changes, length]) => {
          const copy = [...kubectlSecret];
          for (const [index, value] of changes) copy[index] = value;
          return Uint8Array.from(copy.slice(0, Math.max(length, 4)));
        }),
    );
    fc.assert(
      fc.property(bodies, (body) => {
        try {
          const decoded = decodeKubernetesProtobuf(body);
          assert.equal(typeof decoded, 'object');
          JSON.stringify(decoded);
        } catch (error) {
          if (!(error instanceof ProtobufMalformedError || error instanceof ProtobufUnsupportedError))
            throw error;
        }
      }),
      { numRuns: 2000 },
    );
  });

  for (const [what, body, message] of malformed) {
    it(`refuses ${what} as malformed`, () => {
      assert.throws(
        () => decodeKubernetesProtobuf(body),
        (error: Error) => error instanceof ProtobufMalformedError && message.test(error.message),
      );
    });
  }
});
