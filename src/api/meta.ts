import Type, { type TSchema } from 'typebox';
import type { KubeObject, PrinterColumn } from './kind.ts';

/** A map of strings (labels, annotations, ConfigMap data). */
export const StringMap = Type.Unsafe<Record<string, string>>({
  type: 'object',
  additionalProperties: { type: 'string' },
});

/** An RFC 3339 timestamp, as Kubernetes writes it. */
export const Time = Type.String({ format: 'date-time' });

/** Marks a schema as free-form: unknown fields are kept (a Kubernetes object embedded in another). */
export function FreeForm<T extends TSchema>(schema: T): T {
  return { ...schema, 'x-kubernetes-preserve-unknown-fields': true } as T;
}

/** A Kubernetes object embedded as data (e.g. a Deployment inside a Workload). */
export const EmbeddedObject = FreeForm(
  Type.Object(
    {
      apiVersion: Type.String({ minLength: 1, description: 'API version of the embedded object.' }),
      kind: Type.String({ minLength: 1, description: 'Kind of the embedded object.' }),
      metadata: FreeForm(
        Type.Object({
          name: Type.String({ minLength: 1, description: 'Name of the embedded object.' }),
          namespace: Type.Optional(Type.String()),
        }),
      ),
    },
    { description: 'A Kubernetes object, kept as written.' },
  ),
);

export const OwnerReference = Type.Object(
  {
    apiVersion: Type.String(),
    kind: Type.String(),
    name: Type.String(),
    uid: Type.String(),
    controller: Type.Optional(Type.Boolean()),
    blockOwnerDeletion: Type.Optional(Type.Boolean()),
  },
  { description: 'An object this one depends on; deleting the owner deletes this object.' },
);

export const ManagedFieldsEntry = Type.Object({
  manager: Type.Optional(Type.String()),
  operation: Type.Optional(Type.String()),
  apiVersion: Type.Optional(Type.String()),
  time: Type.Optional(Time),
  fieldsType: Type.Optional(Type.String()),
  fieldsV1: Type.Optional(FreeForm(Type.Object({}))),
  subresource: Type.Optional(Type.String()),
});

/** Standard object metadata; the server fills uid, resourceVersion, generation and timestamps. */
export const ObjectMeta = Type.Object(
  {
    name: Type.Optional(Type.String({ description: 'Unique within a namespace (or the cluster).' })),
    generateName: Type.Optional(Type.String({ description: 'Prefix for a server-generated name.' })),
    namespace: Type.Optional(Type.String()),
    uid: Type.Optional(Type.String()),
    resourceVersion: Type.Optional(Type.String()),
    generation: Type.Optional(Type.Integer()),
    creationTimestamp: Type.Optional(Time),
    deletionTimestamp: Type.Optional(Time),
    deletionGracePeriodSeconds: Type.Optional(Type.Integer()),
    labels: Type.Optional(StringMap),
    annotations: Type.Optional(StringMap),
    ownerReferences: Type.Optional(
      Type.Array(OwnerReference, { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['uid'] }),
    ),
    finalizers: Type.Optional(Type.Array(Type.String(), { 'x-kubernetes-list-type': 'set' })),
    managedFields: Type.Optional(Type.Array(ManagedFieldsEntry)),
  },
  { description: 'Standard object metadata.' },
);

export const LabelSelectorRequirement = Type.Object({
  key: Type.String({ minLength: 1 }),
  operator: Type.Enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
  values: Type.Optional(Type.Array(Type.String())),
});

/** A Kubernetes label selector (`matchLabels` and `matchExpressions`, ANDed). */
export const LabelSelector = Type.Object(
  {
    matchLabels: Type.Optional(StringMap),
    matchExpressions: Type.Optional(Type.Array(LabelSelectorRequirement)),
  },
  { description: 'Selects objects by their labels; an empty selector selects everything.' },
);

export const Condition = Type.Object({
  type: Type.String({ minLength: 1 }),
  status: Type.Enum(['True', 'False', 'Unknown']),
  reason: Type.Optional(Type.String()),
  message: Type.Optional(Type.String()),
  lastTransitionTime: Type.Optional(Time),
  observedGeneration: Type.Optional(Type.Integer()),
});

export const Conditions = Type.Array(Condition, {
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
});

/** The top of every object: apiVersion, kind, metadata. */
export function objectSchema<P extends Record<string, TSchema>>(
  apiVersion: string,
  kind: string,
  description: string,
  properties: P,
) {
  return Type.Object(
    {
      apiVersion: Type.Optional(Type.String({ description: `${apiVersion}` })),
      kind: Type.Optional(Type.String({ description: `${kind}` })),
      metadata: Type.Optional(ObjectMeta),
      ...properties,
    },
    { description },
  );
}

/** The AGE column every kind shows last. */
export const ageColumn: PrinterColumn = {
  name: 'Age',
  type: 'date',
  description: 'Time since creation.',
  cell: (object: KubeObject) => object.metadata.creationTimestamp,
};

/** The status of a condition of the given type, if present. */
export function conditionStatus(object: KubeObject, type: string): string | undefined {
  const status = object.status as { conditions?: Array<{ type: string; status: string }> } | undefined;
  return status?.conditions?.find((condition) => condition.type === type)?.status;
}
