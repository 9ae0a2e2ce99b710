/**
 * The OpenAPI documents of the served kinds, generated from their schemas: one Swagger 2.0
 * document of every kind, and one OpenAPI 3.0 document per group version, with the shared
 * `ObjectMeta` and the apimachinery types they refer to.
 */
import { apiVersionOf, type KindDefinition, type KindRegistry } from '../../../api/index.ts';
import { canonicalJson } from '../../../util/index.ts';
import { KUBERNETES_VERSION } from '../discovery/index.ts';
import { objectMetaPatchMeta, patchMetaFor } from '../patch/index.ts';
import { definitionName, groupVersionKind, META, META_SCHEMAS } from './meta-schemas.ts';
import { openApiPaths } from './paths.ts';
import {
  definitionRef,
  type JsonObject,
  type OpenApiDialect,
  referringProperty,
  toOpenApiSchema,
} from './schema-conversion.ts';

/** The generated documents. */
export interface OpenApiDocuments {
  /** The Swagger 2.0 document of every kind. */
  readonly v2: JsonObject;
  /** The OpenAPI 3.0 document of each group version, keyed `api/v1` or `apis/GROUP/VERSION`. */
  readonly v3: ReadonlyMap<string, JsonObject>;
}

const TITLE = 'Kubernetes';
const OBJECT_META_DESCRIPTION =
  'ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.';
const INFO_VERSION = `v${KUBERNETES_VERSION.major}.${KUBERNETES_VERSION.minor}.${KUBERNETES_VERSION.patch}`;

/** Builds the v2 document and the v3 documents of every group version of the registry. */
export function buildOpenApiDocuments(registry: KindRegistry): OpenApiDocuments {
  const sharedMeta = sharedObjectMeta(registry.kinds);
  const v2: JsonObject = {
    swagger: '2.0',
    info: { title: TITLE, version: INFO_VERSION },
    paths: openApiPaths(registry.kinds, 'v2'),
    definitions: definitions(registry.kinds, 'v2', sharedMeta),
  };
  const v3 = new Map<string, JsonObject>();
  for (const { group, versions } of registry.groups()) {
    for (const version of versions) {
      const kinds = registry.inGroupVersion(group, version);
      v3.set(group === '' ? `api/${version}` : `apis/${group}/${version}`, {
        openapi: '3.0.0',
        info: { title: TITLE, version: INFO_VERSION },
        paths: openApiPaths(kinds, 'v3'),
        components: { schemas: definitions(kinds, 'v3', sharedMeta) },
      });
    }
  }
  return { v2, v3 };
}

/** The `metadata` schema of a kind, if it has one. */
function metadataOf(def: KindDefinition): JsonObject | undefined {
  const metadata = (def.schema as { properties?: Record<string, unknown> }).properties?.metadata;
  return typeof metadata === 'object' && metadata !== null ? (metadata as JsonObject) : undefined;
}

/** The metadata schema most kinds share, published once as `ObjectMeta` and referred to. */
function sharedObjectMeta(kinds: readonly KindDefinition[]): { schema: JsonObject; key: string } | undefined {
  const counts = new Map<string, { schema: JsonObject; count: number }>();
  for (const def of kinds) {
    const schema = metadataOf(def);
    if (schema === undefined) continue;
    const key = canonicalJson(schema);
    const entry = counts.get(key) ?? { schema, count: 0 };
    entry.count += 1;
    counts.set(key, entry);
  }
  let best: { schema: JsonObject; key: string; count: number } | undefined;
  for (const [key, entry] of counts) {
    if (best === undefined || entry.count > best.count) best = { ...entry, key };
  }
  return best && { schema: best.schema, key: best.key };
}

/** The definitions of the given kinds (object and list), the shared ObjectMeta and apimachinery types. */
function definitions(
  kinds: readonly KindDefinition[],
  dialect: OpenApiDialect,
  sharedMeta: { schema: JsonObject; key: string } | undefined,
): JsonObject {
  const result: JsonObject = {};
  for (const def of kinds) {
    const patchMeta = def.strategicMergePatch ? patchMetaFor(apiVersionOf(def), def.kind) : undefined;
    const schema = toOpenApiSchema(def.schema as JsonObject, {
      dialect,
      ...(patchMeta === undefined ? {} : { patchMeta }),
      replace: (path, property) =>
        path.length === 1 &&
        path[0] === 'metadata' &&
        sharedMeta !== undefined &&
        canonicalJson(property) === sharedMeta.key
          ? referringProperty(dialect, META.objectMeta, property.description)
          : undefined,
    });
    result[definitionName(def)] = {
      ...schema,
      description: def.description || schema.description,
      'x-kubernetes-group-version-kind': [groupVersionKind(def, def.kind)],
    };
    result[definitionName(def, 'List')] = listDefinition(def, dialect);
  }
  if (sharedMeta !== undefined) {
    result[META.objectMeta] = {
      ...toOpenApiSchema(sharedMeta.schema, { dialect, patchMeta: objectMetaPatchMeta }),
      // The type's own description, as apimachinery writes it: the schema's own text is already
      // beside each `metadata` reference, and kubectl explain prints both.
      description: OBJECT_META_DESCRIPTION,
    };
  }
  for (const [name, { schema, kind }] of Object.entries(META_SCHEMAS)) {
    const converted = toOpenApiSchema(schema as JsonObject, { dialect });
    result[name] =
      kind === undefined
        ? converted
        : { ...converted, 'x-kubernetes-group-version-kind': [{ group: '', kind, version: 'v1' }] };
  }
  return result;
}

function listDefinition(def: KindDefinition, dialect: OpenApiDialect): JsonObject {
  return {
    type: 'object',
    description: `A list of ${def.kind} objects.`,
    required: ['items'],
    properties: {
      apiVersion: {
        type: 'string',
        description: 'APIVersion defines the versioned schema of this representation of an object.',
      },
      items: {
        type: 'array',
        description: `The ${def.plural}.`,
        items: definitionRef(dialect, definitionName(def)),
      },
      kind: {
        type: 'string',
        description: 'Kind is a string value representing the REST resource this object represents.',
      },
      metadata: referringProperty(dialect, META.listMeta, 'Standard list metadata.'),
    },
    'x-kubernetes-group-version-kind': [groupVersionKind(def, `${def.kind}List`)],
  };
}
