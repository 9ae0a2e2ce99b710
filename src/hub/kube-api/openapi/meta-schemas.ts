/**
 * The names of OpenAPI definitions, as the apiserver spells them, and the apimachinery types
 * every group version's operations refer to (lists, `Status`, `DeleteOptions`, patches, watch
 * events). The kinds themselves are never described here: their schemas come from `src/api`.
 */
import Type, { type TSchema } from 'typebox';
import type { KindDefinition } from '../../../api/index.ts';

/** The prefix of `meta.k8s.io/v1` definitions. */
export const META_PREFIX = 'io.k8s.apimachinery.pkg.apis.meta.v1.';

/** Names of the shared definitions. */
export const META = {
  objectMeta: `${META_PREFIX}ObjectMeta`,
  listMeta: `${META_PREFIX}ListMeta`,
  status: `${META_PREFIX}Status`,
  deleteOptions: `${META_PREFIX}DeleteOptions`,
  patch: `${META_PREFIX}Patch`,
  watchEvent: `${META_PREFIX}WatchEvent`,
} as const;

/**
 * The definition name of a kind: `io.k8s.api.core.v1.ConfigMap` for the core group,
 * `dev.outpost.v1alpha1.Workload` for a dotted group (reversed, as for custom resources),
 * `io.k8s.api.GROUP.VERSION.KIND` for other groups. `suffix` names its list (`List`).
 */
export function definitionName(def: Pick<KindDefinition, 'group' | 'version' | 'kind'>, suffix = ''): string {
  const prefix =
    def.group === ''
      ? 'io.k8s.api.core'
      : def.group.includes('.')
        ? def.group.split('.').reverse().join('.')
        : `io.k8s.api.${def.group}`;
  return `${prefix}.${def.version}.${def.kind}${suffix}`;
}

/** `x-kubernetes-group-version-kind` of a definition or operation. */
export function groupVersionKind(def: Pick<KindDefinition, 'group' | 'version'>, kind: string) {
  return { group: def.group, kind, version: def.version };
}

const str = (description: string) => Type.Optional(Type.String({ description }));
const int = (description: string) => Type.Optional(Type.Integer({ format: 'int64', description }));
const API_VERSION = str('APIVersion defines the versioned schema of this representation of an object.');
const KIND = str('Kind is a string value representing the REST resource this object represents.');

const ListMeta = Type.Object(
  {
    continue: str(
      'Set when more results are available: pass it as the continue parameter to get the next page.',
    ),
    remainingItemCount: int('The number of items left after this page, when known.'),
    resourceVersion: str('The resource version of the list, for watches from this point.'),
  },
  { description: 'Metadata of a list.' },
);

const StatusDetails = Type.Object(
  {
    causes: Type.Optional(
      Type.Array(
        Type.Object({
          field: str('The field that caused the error, as a path (`spec.resources[0].kind`).'),
          message: str('A human-readable description of the cause.'),
          reason: str('A machine-readable description of the cause.'),
        }),
        { 'x-kubernetes-list-type': 'atomic' },
      ),
    ),
    group: str('The group of the resource.'),
    kind: str('The kind or resource of the object.'),
    name: str('The name of the object.'),
    retryAfterSeconds: Type.Optional(
      Type.Integer({ format: 'int32', description: 'Seconds to wait before retrying.' }),
    ),
    uid: str('The UID of the object.'),
  },
  { description: 'Extended data of a Status.' },
);

const Preconditions = Type.Object(
  { resourceVersion: str('The required resource version.'), uid: str('The required UID.') },
  { description: 'Must hold before the operation is carried out.' },
);

/** The apimachinery definitions, by name, as JSON schemas (converted like the kinds'). */
export const META_SCHEMAS: Readonly<Record<string, { schema: TSchema; kind?: string }>> = {
  [META.listMeta]: { schema: ListMeta },
  [META.status]: {
    kind: 'Status',
    schema: Type.Object(
      {
        apiVersion: API_VERSION,
        code: Type.Optional(Type.Integer({ format: 'int32', description: 'The HTTP status code.' })),
        details: Type.Optional(StatusDetails),
        kind: KIND,
        message: str('A human-readable description of the status.'),
        metadata: Type.Optional(ListMeta),
        reason: str('A machine-readable reason (NotFound, Conflict, Invalid ...).'),
        status: str('Success or Failure.'),
      },
      { description: 'The result of an operation that returns no object, or of a failed one.' },
    ),
  },
  [META.deleteOptions]: {
    kind: 'DeleteOptions',
    schema: Type.Object(
      {
        apiVersion: API_VERSION,
        dryRun: Type.Optional(
          Type.Array(Type.String(), {
            'x-kubernetes-list-type': 'atomic',
            description: 'All: do not persist.',
          }),
        ),
        gracePeriodSeconds: int('Seconds before the object is deleted.'),
        kind: KIND,
        preconditions: Type.Optional(Preconditions),
        propagationPolicy: str(
          'Orphan, Background or Foreground: whether and how dependents are garbage collected.',
        ),
      },
      { description: 'Options of a delete.' },
    ),
  },
  [META.patch]: {
    schema: Type.Object(
      {},
      {
        description:
          'A patch: a JSON patch, a merge patch, a strategic merge patch or an apply configuration.',
      },
    ),
  },
  [META.watchEvent]: {
    kind: 'WatchEvent',
    schema: Type.Object(
      {
        object: Type.Object(
          {},
          {
            'x-kubernetes-preserve-unknown-fields': true,
            description: 'The object (or a Status for ERROR).',
          },
        ),
        type: Type.String({ description: 'ADDED, MODIFIED, DELETED, BOOKMARK or ERROR.' }),
      },
      { description: 'An event of a watch stream.' },
    ),
  },
};
