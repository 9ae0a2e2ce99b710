/**
 * Request bodies in `application/vnd.kubernetes.protobuf`, which client-go
 * (so kubectl's `create namespace|configmap|secret`) sends for built-in kinds.
 * The hub decodes the envelope and the messages of the core kinds it serves
 * into the object their JSON form would be; it never answers in protobuf.
 *
 * Field numbers are those of `k8s.io/api/core/v1/generated.proto` and
 * `k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto`.
 */
import {
  decodeMessage,
  type FieldSpec,
  type MessageSchema,
  ProtobufMalformedError,
  ProtobufUnsupportedError,
  WireReader,
} from './wire.ts';

export { ProtobufMalformedError, ProtobufUnsupportedError } from './wire.ts';

/** The media type of Kubernetes protobuf bodies. */
export const KUBERNETES_PROTOBUF = 'application/vnd.kubernetes.protobuf';

const MAGIC = [0x6b, 0x38, 0x73, 0x00]; // "k8s\0"

const message = (name: string, fields: Record<number, FieldSpec>): MessageSchema => ({ name, fields });
const str = (name: string, keep?: FieldSpec['keep']): FieldSpec => ({
  name,
  type: 'string',
  ...(keep ? { keep } : {}),
});

const OWNER_REFERENCE = message('OwnerReference', {
  // apiVersion, kind, name and uid have no omitempty in Go; controller and blockOwnerDeletion are pointers.
  5: str('apiVersion', 'always'),
  1: str('kind', 'always'),
  3: str('name', 'always'),
  4: str('uid', 'always'),
  6: { name: 'controller', type: 'bool', keep: 'present' },
  7: { name: 'blockOwnerDeletion', type: 'bool', keep: 'present' },
});

const MANAGED_FIELDS_ENTRY = message('ManagedFieldsEntry', {
  1: str('manager'),
  2: str('operation'),
  3: str('apiVersion'),
  4: { name: 'time', type: 'time' },
  6: str('fieldsType'),
  7: { name: 'fieldsV1', type: 'fieldsV1' },
  8: str('subresource'),
});

const OBJECT_META = message('ObjectMeta', {
  1: str('name'),
  2: str('generateName'),
  3: str('namespace'),
  4: str('selfLink'),
  5: str('uid'),
  6: str('resourceVersion'),
  7: { name: 'generation', type: 'int64' },
  8: { name: 'creationTimestamp', type: 'time' },
  9: { name: 'deletionTimestamp', type: 'time' },
  10: { name: 'deletionGracePeriodSeconds', type: 'int64', keep: 'present' },
  11: { name: 'labels', type: 'string', map: true },
  12: { name: 'annotations', type: 'string', map: true },
  13: { name: 'ownerReferences', type: OWNER_REFERENCE, repeated: true },
  14: { name: 'finalizers', type: 'string', repeated: true },
  17: { name: 'managedFields', type: MANAGED_FIELDS_ENTRY, repeated: true },
});

const metadata: FieldSpec = { name: 'metadata', type: OBJECT_META };

const NAMESPACE = message('Namespace', {
  1: metadata,
  2: {
    name: 'spec',
    type: message('NamespaceSpec', { 1: { name: 'finalizers', type: 'string', repeated: true } }),
  },
  3: {
    name: 'status',
    type: message('NamespaceStatus', {
      1: str('phase'),
      2: {
        name: 'conditions',
        repeated: true,
        type: message('NamespaceCondition', {
          1: str('type', 'always'),
          2: str('status', 'always'),
          4: { name: 'lastTransitionTime', type: 'time' },
          5: str('reason'),
          6: str('message'),
        }),
      },
    }),
  },
});

const CONFIG_MAP = message('ConfigMap', {
  1: metadata,
  2: { name: 'data', type: 'string', map: true },
  3: { name: 'binaryData', type: 'bytes', map: true },
  4: { name: 'immutable', type: 'bool', keep: 'present' },
});

const SECRET = message('Secret', {
  1: metadata,
  2: { name: 'data', type: 'bytes', map: true },
  3: str('type'),
  4: { name: 'stringData', type: 'string', map: true },
  5: { name: 'immutable', type: 'bool', keep: 'present' },
});

const OBJECT_REFERENCE = message('ObjectReference', {
  1: str('kind'),
  2: str('namespace'),
  3: str('name'),
  4: str('uid'),
  5: str('apiVersion'),
  6: str('resourceVersion'),
  7: str('fieldPath'),
});

const EVENT = message('Event', {
  1: metadata,
  2: { name: 'involvedObject', type: OBJECT_REFERENCE },
  3: str('reason'),
  4: str('message'),
  5: { name: 'source', type: message('EventSource', { 1: str('component'), 2: str('host') }) },
  6: { name: 'firstTimestamp', type: 'time' },
  7: { name: 'lastTimestamp', type: 'time' },
  8: { name: 'count', type: 'int32' },
  9: str('type'),
  10: { name: 'eventTime', type: 'microTime' },
  11: {
    name: 'series',
    type: message('EventSeries', {
      1: { name: 'count', type: 'int32' },
      2: { name: 'lastObservedTime', type: 'microTime' },
    }),
  },
  12: str('action'),
  13: { name: 'related', type: OBJECT_REFERENCE },
  // Go prints these two without omitempty.
  14: str('reportingComponent', 'always'),
  15: str('reportingInstance', 'always'),
});

const DELETE_OPTIONS = message('DeleteOptions', {
  1: { name: 'gracePeriodSeconds', type: 'int64', keep: 'present' },
  2: {
    name: 'preconditions',
    type: message('Preconditions', { 1: str('uid', 'present'), 2: str('resourceVersion', 'present') }),
  },
  3: { name: 'orphanDependents', type: 'bool', keep: 'present' },
  4: str('propagationPolicy', 'present'),
  5: { name: 'dryRun', type: 'string', repeated: true },
});

const LABEL_SELECTOR = message('LabelSelector', {
  1: { name: 'matchLabels', type: 'string', map: true },
  2: {
    name: 'matchExpressions',
    repeated: true,
    type: message('LabelSelectorRequirement', {
      1: str('key', 'always'),
      2: str('operator', 'always'),
      3: { name: 'values', type: 'string', repeated: true },
    }),
  },
});

// `k8s.io/api/rbac/v1/generated.proto`.
const POLICY_RULE = message('PolicyRule', {
  1: { name: 'verbs', type: 'string', repeated: true },
  2: { name: 'apiGroups', type: 'string', repeated: true },
  3: { name: 'resources', type: 'string', repeated: true },
  4: { name: 'resourceNames', type: 'string', repeated: true },
  5: { name: 'nonResourceURLs', type: 'string', repeated: true },
});
const rules: FieldSpec = { name: 'rules', type: POLICY_RULE, repeated: true };
const SUBJECT = message('Subject', {
  1: str('kind', 'always'),
  2: str('apiGroup'),
  3: str('name', 'always'),
  4: str('namespace'),
});
const ROLE_REF = message('RoleRef', {
  1: str('apiGroup', 'always'),
  2: str('kind', 'always'),
  3: str('name', 'always'),
});
const ROLE = message('Role', { 1: metadata, 2: rules });
const CLUSTER_ROLE = message('ClusterRole', {
  1: metadata,
  2: rules,
  3: {
    name: 'aggregationRule',
    type: message('AggregationRule', {
      1: { name: 'clusterRoleSelectors', type: LABEL_SELECTOR, repeated: true },
    }),
  },
});
const binding = (name: string) =>
  message(name, {
    1: metadata,
    2: { name: 'subjects', type: SUBJECT, repeated: true },
    3: { name: 'roleRef', type: ROLE_REF },
  });

// `k8s.io/api/authorization/v1` and `authentication/v1`: the reviews kubectl auth can-i / whoami send.
const SELF_SUBJECT_ACCESS_REVIEW = message('SelfSubjectAccessReview', {
  1: metadata,
  2: {
    name: 'spec',
    type: message('SelfSubjectAccessReviewSpec', {
      1: {
        name: 'resourceAttributes',
        type: message('ResourceAttributes', {
          1: str('namespace'),
          2: str('verb'),
          3: str('group'),
          4: str('version'),
          5: str('resource'),
          6: str('subresource'),
          7: str('name'),
        }),
      },
      2: {
        name: 'nonResourceAttributes',
        type: message('NonResourceAttributes', { 1: str('path'), 2: str('verb') }),
      },
    }),
  },
});
const SELF_SUBJECT_RULES_REVIEW = message('SelfSubjectRulesReview', {
  1: metadata,
  2: { name: 'spec', type: message('SelfSubjectRulesReviewSpec', { 1: str('namespace') }) },
});
const SELF_SUBJECT_REVIEW = message('SelfSubjectReview', { 1: metadata });

/** The typed messages decoded, by `apiVersion/kind`. */
const KINDS: ReadonlyMap<string, MessageSchema> = new Map([
  ['v1/Namespace', NAMESPACE],
  ['v1/ConfigMap', CONFIG_MAP],
  ['v1/Secret', SECRET],
  ['v1/Event', EVENT],
  ['rbac.authorization.k8s.io/v1/Role', ROLE],
  ['rbac.authorization.k8s.io/v1/ClusterRole', CLUSTER_ROLE],
  ['rbac.authorization.k8s.io/v1/RoleBinding', binding('RoleBinding')],
  ['rbac.authorization.k8s.io/v1/ClusterRoleBinding', binding('ClusterRoleBinding')],
  ['authorization.k8s.io/v1/SelfSubjectAccessReview', SELF_SUBJECT_ACCESS_REVIEW],
  ['authorization.k8s.io/v1/SelfSubjectRulesReview', SELF_SUBJECT_RULES_REVIEW],
  ['authentication.k8s.io/v1/SelfSubjectReview', SELF_SUBJECT_REVIEW],
]);

function schemaFor(apiVersion: string, kind: string): MessageSchema | undefined {
  // client-go encodes DeleteOptions under the group version of the resource it deletes.
  if (kind === 'DeleteOptions') return DELETE_OPTIONS;
  return KINDS.get(`${apiVersion}/${kind}`);
}

/** What `decodeKubernetesProtobuf` decodes, for the message refusing anything else. */
const PROTOBUF_KINDS: readonly string[] = [
  ...[...KINDS.keys()].map((key) => key.replace(/\/(?=[^/]*$)/, ' ')),
  'DeleteOptions',
];

interface Envelope {
  apiVersion: string;
  kind: string;
  raw: Uint8Array;
  contentEncoding: string;
  contentType: string;
}

const utf8 = new TextDecoder('utf-8');

/** Reads `runtime.Unknown`: typeMeta = 1 {apiVersion = 1, kind = 2}, raw = 2, contentEncoding = 3, contentType = 4. */
function readEnvelope(bytes: Uint8Array): Envelope {
  const envelope: Envelope = {
    apiVersion: '',
    kind: '',
    raw: new Uint8Array(),
    contentEncoding: '',
    contentType: '',
  };
  const reader = new WireReader(bytes, 'Unknown');
  while (!reader.done) {
    const { number, wireType } = reader.tag();
    if (number < 1 || number > 4) {
      reader.skip(wireType, number);
      continue;
    }
    if (wireType !== 2) throw reader.fail(`field ${number} has wire type ${wireType}, expected 2`);
    const value = reader.lengthDelimited();
    if (number === 1) {
      const typeMeta = decodeMessage(
        value,
        message('TypeMeta', { 1: str('apiVersion'), 2: str('kind') }),
        'Unknown.typeMeta',
      );
      envelope.apiVersion = (typeMeta.apiVersion as string | undefined) ?? '';
      envelope.kind = (typeMeta.kind as string | undefined) ?? '';
    } else if (number === 2) envelope.raw = value;
    else if (number === 3) envelope.contentEncoding = utf8.decode(value);
    else envelope.contentType = utf8.decode(value);
  }
  return envelope;
}

/**
 * Decodes a Kubernetes protobuf request body (the `k8s\0` prefix, then a
 * `runtime.Unknown`) into the object its JSON form would be: `kind` and
 * `apiVersion` from the envelope, bytes fields base64, times RFC 3339, zero
 * fields left out as Go's `omitempty` does. Decodes v1 Namespace, ConfigMap,
 * Secret, Event, the four RBAC kinds, the self-subject reviews, and
 * DeleteOptions of any group version; an envelope whose
 * `contentType` is JSON is parsed as JSON.
 *
 * @throws ProtobufMalformedError when the bytes are not such a body (a 400).
 * @throws ProtobufUnsupportedError for another kind or a content encoding (a 415).
 */
export function decodeKubernetesProtobuf(body: Uint8Array): Record<string, unknown> {
  if (body.length < MAGIC.length || MAGIC.some((byte, index) => body[index] !== byte)) {
    throw new ProtobufMalformedError(
      'the body does not start with the Kubernetes protobuf prefix "k8s\\x00"',
    );
  }
  const envelope = readEnvelope(body.subarray(MAGIC.length));
  if (envelope.contentEncoding !== '') {
    throw new ProtobufUnsupportedError(
      `the protobuf envelope's content encoding "${envelope.contentEncoding}" is not supported`,
    );
  }
  const contentType = envelope.contentType.split(';')[0]!.trim().toLowerCase();
  if (contentType === 'application/json') return parseJson(envelope);
  if (contentType !== '' && contentType !== KUBERNETES_PROTOBUF) {
    throw new ProtobufUnsupportedError(
      `the protobuf envelope's content type "${envelope.contentType}" is not supported`,
    );
  }
  if (envelope.kind === '' || envelope.apiVersion === '') {
    throw new ProtobufMalformedError("the protobuf envelope's typeMeta has no apiVersion or kind");
  }
  const schema = schemaFor(envelope.apiVersion, envelope.kind);
  if (!schema) {
    throw new ProtobufUnsupportedError(
      `the body of the request was in an unknown format - protobuf is accepted for ${PROTOBUF_KINDS.join(', ')}, not ${envelope.apiVersion} ${envelope.kind}; accepted media types include: application/json, application/yaml`,
    );
  }
  return { kind: envelope.kind, apiVersion: envelope.apiVersion, ...decodeMessage(envelope.raw, schema) };
}

function parseJson(envelope: Envelope): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(envelope.raw));
  } catch (error) {
    throw new ProtobufMalformedError(
      `the protobuf envelope's raw JSON does not parse: ${(error as Error).message}`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ProtobufMalformedError("the protobuf envelope's raw JSON is not an object");
  }
  const object = value as Record<string, unknown>;
  return {
    kind: envelope.kind || object.kind,
    apiVersion: envelope.apiVersion || object.apiVersion,
    ...object,
  };
}
