/**
 * Conversion of the kinds' JSON schemas (TypeBox, JSON Schema 2020-12) into OpenAPI schema
 * objects: Swagger 2.0 (`v2`) or OpenAPI 3.0 (`v3`), as the apiserver publishes them. Literals
 * and unions of literals become `enum`, `patternProperties` becomes `additionalProperties`,
 * nullable unions become `nullable`, integer-or-string unions `x-kubernetes-int-or-string`;
 * descriptions, validations and `x-kubernetes-*` extensions are kept, and strategic-merge-patch
 * metadata is written as `x-kubernetes-patch-strategy` / `x-kubernetes-patch-merge-key`.
 */
import type { PatchMeta } from '../patch/index.ts';

/** The OpenAPI flavour a schema is written for. */
export type OpenApiDialect = 'v2' | 'v3';

/** A JSON object (schema, document part). */
export type JsonObject = Record<string, unknown>;

/** A kind's schema uses JSON Schema the conversion cannot express (references between schemas). */
export class UnsupportedSchemaError extends Error {
  override readonly name = 'UnsupportedSchemaError';
}

/** Options of {@link toOpenApiSchema}. */
export interface SchemaConversionOptions {
  readonly dialect: OpenApiDialect;
  /** Strategic-merge-patch metadata of the schema's value, written as extensions. @default none */
  readonly patchMeta?: PatchMeta;
  /**
   * Called for each property, with the property names from the root; a result replaces the
   * property's converted schema (a `$ref` to a shared definition, say). @default none
   */
  readonly replace?: (path: readonly string[], schema: JsonObject) => JsonObject | undefined;
}

/** A reference to a named definition, in the dialect's place for definitions. */
export function definitionRef(dialect: OpenApiDialect, name: string): JsonObject {
  return { $ref: dialect === 'v2' ? `#/definitions/${name}` : `#/components/schemas/${name}` };
}

/**
 * A property that refers to a named definition and keeps its own description: beside the `$ref`
 * in v2, around it with `allOf` in v3 (where siblings of `$ref` are ignored), as the apiserver writes.
 */
export function referringProperty(dialect: OpenApiDialect, name: string, description: unknown): JsonObject {
  const ref = definitionRef(dialect, name);
  if (typeof description !== 'string') return ref;
  return dialect === 'v2' ? { ...ref, description } : { allOf: [ref], description };
}

/**
 * Converts one JSON schema into an OpenAPI schema object; the input is not changed.
 *
 * @throws UnsupportedSchemaError for a `$ref` (kinds' schemas are self-contained).
 */
export function toOpenApiSchema(schema: JsonObject, options: SchemaConversionOptions): JsonObject {
  return convert(schema, options.patchMeta, [], options);
}

/** Keywords OpenAPI shares with JSON Schema and that are copied as they are. */
const COPIED = new Set([
  'description',
  'title',
  'format',
  'default',
  'minimum',
  'maximum',
  'minLength',
  'maxLength',
  'pattern',
  'minItems',
  'maxItems',
  'uniqueItems',
  'multipleOf',
  'minProperties',
  'maxProperties',
  'example',
  'readOnly',
]);

function convert(
  schema: JsonObject,
  meta: PatchMeta | undefined,
  path: readonly string[],
  options: SchemaConversionOptions,
): JsonObject {
  const { dialect } = options;
  const union = (schema.anyOf ?? schema.oneOf) as JsonObject[] | undefined;
  if (Array.isArray(union)) {
    const { anyOf: _anyOf, oneOf: _oneOf, ...rest } = schema;
    return convertUnion(union, rest, meta, path, options);
  }
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key.startsWith('x-') || COPIED.has(key)) {
      out[key] = value;
      continue;
    }
    switch (key) {
      case 'type':
        if (Array.isArray(value)) {
          const types = value.filter((type) => type !== 'null');
          if (types.length === 1) out.type = types[0];
          if (types.length < value.length && dialect === 'v3') out.nullable = true;
        } else if (value !== 'null') {
          out.type = value;
        }
        break;
      case 'nullable':
        if (dialect === 'v3') out.nullable = value;
        break;
      case 'const':
        out.enum = [value];
        break;
      case 'enum':
        out.enum = [...(value as unknown[])];
        break;
      case 'examples':
        if (Array.isArray(value) && value.length > 0 && !('example' in schema)) out.example = value[0];
        break;
      case 'exclusiveMinimum':
      case 'exclusiveMaximum':
        // JSON Schema writes the bound itself; OpenAPI 3.0 and Swagger 2.0 a flag beside minimum / maximum.
        if (typeof value === 'number') {
          out[key === 'exclusiveMinimum' ? 'minimum' : 'maximum'] = value;
          out[key] = true;
        } else if (typeof value === 'boolean') {
          out[key] = value;
        }
        break;
      case 'required':
        if (Array.isArray(value) && value.length > 0) out.required = [...value];
        break;
      case 'properties':
        out.properties = convertProperties(value as Record<string, JsonObject>, meta, path, options);
        break;
      case 'items':
        if (isObject(value)) out.items = convert(value, meta?.items, path, options);
        break;
      case 'additionalProperties':
        if (value === true) out['x-kubernetes-preserve-unknown-fields'] = true;
        else if (isObject(value)) out.additionalProperties = convert(value, meta?.additional, path, options);
        // `false` is dropped: Kubernetes schemas never close an object (unknown fields are pruned).
        break;
      case 'patternProperties': {
        const values = Object.values(value as Record<string, JsonObject>);
        if (values.length === 1 && values[0] !== undefined && !isObject(schema.additionalProperties)) {
          out.additionalProperties = convert(values[0], meta?.additional, path, options);
        }
        break;
      }
      case 'allOf':
        if (dialect === 'v3')
          out.allOf = (value as JsonObject[]).map((part) => convert(part, meta, path, options));
        break;
      case 'not':
        if (dialect === 'v3' && isObject(value)) out.not = convert(value, undefined, path, options);
        break;
      case '$ref':
        throw new UnsupportedSchemaError(
          `a $ref (${String(value)}) at ${path.join('.') || 'the root'} has no OpenAPI form here`,
        );
      default:
        // $id, $schema, if / then / else and the like: no OpenAPI equivalent the apiserver publishes.
        break;
    }
  }
  if (out.type === undefined && Array.isArray(out.enum)) {
    const type = typeOfValues(out.enum);
    if (type !== undefined) out.type = type;
  }
  return out;
}

function convertProperties(
  properties: Record<string, JsonObject>,
  meta: PatchMeta | undefined,
  path: readonly string[],
  options: SchemaConversionOptions,
): JsonObject {
  const out: JsonObject = {};
  for (const [name, property] of Object.entries(properties)) {
    const propertyPath = [...path, name];
    const replaced = options.replace?.(propertyPath, property);
    if (replaced !== undefined) {
      out[name] = replaced;
      continue;
    }
    const propertyMeta = fieldPatchMeta(meta, name);
    const converted = convert(property, propertyMeta, propertyPath, options);
    if (propertyMeta?.strategy !== undefined)
      converted['x-kubernetes-patch-strategy'] = propertyMeta.strategy;
    if (propertyMeta?.mergeKey !== undefined)
      converted['x-kubernetes-patch-merge-key'] = propertyMeta.mergeKey;
    out[name] = converted;
  }
  return out;
}

/** `anyOf` / `oneOf`: null branches make it nullable; literals an enum; integer or string a Kubernetes int-or-string. */
function convertUnion(
  branches: readonly JsonObject[],
  outer: JsonObject,
  meta: PatchMeta | undefined,
  path: readonly string[],
  options: SchemaConversionOptions,
): JsonObject {
  const { dialect } = options;
  const nonNull = branches.filter(
    (branch) => !(branch.type === 'null' || (branch.const === null && branch.type === undefined)),
  );
  const nullable = nonNull.length < branches.length && dialect === 'v3' ? { nullable: true } : {};
  const base = convert(outer, meta, path, options);
  if (nonNull.length === 1 && nonNull[0] !== undefined) {
    return { ...convert(nonNull[0], meta, path, options), ...base, ...nullable };
  }
  const literals = nonNull.map(literalValues);
  if (nonNull.length > 0 && literals.every((values) => values !== undefined)) {
    const values = literals.flatMap((list) => list ?? []);
    const type = typeOfValues(values);
    return { ...(type === undefined ? {} : { type }), ...base, enum: values, ...nullable };
  }
  const types = nonNull.map((branch) => branch.type).sort();
  if (nonNull.length === 2 && types[0] === 'integer' && types[1] === 'string') {
    return { ...base, 'x-kubernetes-int-or-string': true, ...nullable };
  }
  if (dialect === 'v2') return { ...base };
  return { ...base, anyOf: nonNull.map((branch) => convert(branch, meta, path, options)), ...nullable };
}

/** The values a literal schema (`const` or `enum` and nothing structural) allows, else undefined. */
function literalValues(schema: JsonObject): unknown[] | undefined {
  if ('properties' in schema || 'items' in schema || 'anyOf' in schema || 'oneOf' in schema) return undefined;
  if ('const' in schema) return [schema.const];
  if (Array.isArray(schema.enum)) return [...schema.enum];
  return undefined;
}

function typeOfValues(values: readonly unknown[]): string | undefined {
  if (values.length === 0) return undefined;
  if (values.every((value) => typeof value === 'string')) return 'string';
  if (values.every((value) => typeof value === 'boolean')) return 'boolean';
  if (values.every((value) => Number.isInteger(value))) return 'integer';
  if (values.every((value) => typeof value === 'number')) return 'number';
  return undefined;
}

/** The patch metadata of field `name` of an object described by `meta` (its own entry, else the map's). */
function fieldPatchMeta(meta: PatchMeta | undefined, name: string): PatchMeta | undefined {
  if (meta?.fields !== undefined && Object.hasOwn(meta.fields, name)) return meta.fields[name];
  return meta?.additional;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
