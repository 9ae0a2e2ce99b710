/**
 * What the apply engine needs to know about a kind's schema: at each position, whether an object
 * there merges key by key or as a whole, whether a list is atomic, a set or a map keyed by some
 * fields. Built from JSON schema (TypeBox output) and the Kubernetes extensions
 * `x-kubernetes-list-type`, `x-kubernetes-list-map-keys`, `x-kubernetes-map-type`,
 * `x-kubernetes-preserve-unknown-fields` and `x-kubernetes-embedded-resource`.
 *
 * Untyped positions (no schema, `{}`, preserve-unknown) behave as the apiserver treats CRD
 * schemas: objects are granular maps whose keys are owned individually, lists are atomic.
 * Unknown keys of typed objects are untyped too, so odd data never stops an apply.
 */

/** How the items of a list merge. */
export type ListType = 'atomic' | 'set' | 'map';

/** Schema knowledge at one position of an object. Walkers pick `map` or `list` by the value found. */
export interface SchemaInfo {
  /** How a JSON object found here merges; undefined when the schema allows none (one found anyway is atomic). */
  readonly map: MapInfo | undefined;
  /** How an array found here merges; undefined when the schema allows none (one found anyway is atomic). */
  readonly list: ListInfo | undefined;
}

/** A map's entry under one key. */
export interface FieldInfo {
  readonly info: SchemaInfo;
  /** True for a declared property (a struct field); false for keys of a map (labels, untyped data). */
  readonly named: boolean;
  /** Whether the schema lists the property as required (then an emptied value is kept, not dropped). */
  readonly required: boolean;
}

export interface MapInfo {
  /** `x-kubernetes-map-type: atomic`: the whole object is one field, replaced as a whole. */
  readonly atomic: boolean;
  field(key: string): FieldInfo;
}

export interface ListInfo {
  readonly type: ListType;
  /** `x-kubernetes-list-map-keys` for `map` lists; empty otherwise. */
  readonly keys: readonly string[];
  readonly item: SchemaInfo;
  /** The schema default of a key field, used when an item omits it (as `protocol` of ports). */
  keyDefault(key: string): unknown;
}

type JsonSchema = Readonly<Record<string, unknown>>;

const UNTYPED_MAP: MapInfo = { atomic: false, field: () => UNTYPED_FIELD };
const UNTYPED_LIST: ListInfo = {
  type: 'atomic',
  keys: [],
  get item() {
    return untypedInfo;
  },
  keyDefault: () => undefined,
};

/** Schema of a position nothing is known about: granular objects, atomic lists. */
export const untypedInfo: SchemaInfo = { map: UNTYPED_MAP, list: UNTYPED_LIST };

/** Schema of a scalar position: objects and arrays found there are atomic. */
export const scalarInfo: SchemaInfo = { map: undefined, list: undefined };

const UNTYPED_FIELD: FieldInfo = { info: untypedInfo, named: false, required: false };

/**
 * Builds the schema information of a kind from its full JSON schema (the object with
 * `apiVersion`, `kind`, `metadata`, `spec`, `status`). `metadata` always follows
 * {@link objectMetaInfo}, whatever the schema says about it, as in the apiserver.
 * `$ref` is resolved against the schema's `$defs`, `definitions` and `$id`s.
 */
export function schemaInfoFrom(jsonSchema: unknown): SchemaInfo {
  return new Resolver(jsonSchema).info([jsonSchema], true);
}

const STRING = { type: 'string' };
const STRING_MAP = { type: 'object', additionalProperties: STRING };

/** The JSON schema of ObjectMeta with the apiserver's merge rules. */
const OBJECT_META_SCHEMA = {
  type: 'object',
  properties: {
    name: STRING,
    generateName: STRING,
    namespace: STRING,
    uid: STRING,
    resourceVersion: STRING,
    generation: { type: 'integer' },
    creationTimestamp: STRING,
    deletionTimestamp: STRING,
    deletionGracePeriodSeconds: { type: 'integer' },
    labels: STRING_MAP,
    annotations: STRING_MAP,
    finalizers: { type: 'array', items: STRING, 'x-kubernetes-list-type': 'set' },
    ownerReferences: {
      type: 'array',
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['uid'],
      items: {
        type: 'object',
        properties: {
          apiVersion: STRING,
          kind: STRING,
          name: STRING,
          uid: STRING,
          controller: { type: 'boolean' },
          blockOwnerDeletion: { type: 'boolean' },
        },
      },
    },
    managedFields: { type: 'array', items: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
  },
};

/**
 * ObjectMeta: labels and annotations are granular maps, finalizers a set, ownerReferences a
 * map list keyed by `uid`, managedFields atomic, everything else scalar.
 */
export const objectMetaInfo: SchemaInfo = new (class {
  #info: SchemaInfo | undefined;
  get #resolved(): SchemaInfo {
    this.#info ??= new Resolver(OBJECT_META_SCHEMA).info([OBJECT_META_SCHEMA], false);
    return this.#info;
  }
  get map() {
    return this.#resolved.map;
  }
  get list() {
    return this.#resolved.list;
  }
})();

const COMBINATORS = ['allOf', 'anyOf', 'oneOf'] as const;
const SHAPE_KEYS = [
  'type',
  'properties',
  'additionalProperties',
  'patternProperties',
  'items',
  'enum',
  'const',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-embedded-resource',
  'x-kubernetes-int-or-string',
];
const MAX_REF_DEPTH = 64;

/** Resolves references within one root schema and caches the information per schema object. */
class Resolver {
  readonly #root: unknown;
  readonly #byId = new Map<string, JsonSchema>();
  readonly #cache = new WeakMap<object, SchemaInfo>();

  constructor(root: unknown) {
    this.#root = root;
    this.#index(root, new Set());
  }

  info(schemas: readonly unknown[], embedded: boolean): SchemaInfo {
    const [only] = schemas;
    if (schemas.length !== 1 || !isSchema(only) || embedded)
      return new JsonSchemaInfo(schemas, this, embedded);
    let info = this.#cache.get(only);
    if (!info) {
      info = new JsonSchemaInfo(schemas, this, false);
      this.#cache.set(only, info);
    }
    return info;
  }

  /** Plain schemas (no refs, no combinators) that together describe `schema`. */
  atoms(schema: unknown, depth = 0): JsonSchema[] {
    if (schema === true || schema === undefined) return [{}];
    if (!isSchema(schema) || depth > MAX_REF_DEPTH) return isSchema(schema) ? [{}] : [];
    const out: JsonSchema[] = [];
    if (typeof schema.$ref === 'string') out.push(...this.atoms(this.#resolve(schema.$ref) ?? {}, depth + 1));
    for (const key of COMBINATORS) {
      const branches = schema[key];
      if (Array.isArray(branches)) for (const b of branches) out.push(...this.atoms(b, depth + 1));
    }
    if (out.length === 0 || SHAPE_KEYS.some((k) => k in schema)) out.push(schema);
    return out;
  }

  #resolve(ref: string): unknown {
    if (ref.startsWith('#')) {
      let node: unknown = this.#root;
      for (const raw of ref.slice(1).split('/').filter(Boolean)) {
        const part = decodeURIComponent(raw).replaceAll('~1', '/').replaceAll('~0', '~');
        node = isSchema(node) ? node[part] : undefined;
      }
      return node;
    }
    return this.#byId.get(ref) ?? this.#byId.get(ref.replace(/^.*[/#]/, ''));
  }

  #index(node: unknown, seen: Set<unknown>): void {
    if (node === null || typeof node !== 'object' || seen.has(node)) return;
    seen.add(node);
    if (!Array.isArray(node)) {
      const schema = node as JsonSchema;
      if (typeof schema.$id === 'string') this.#byId.set(schema.$id, schema);
      for (const defsKey of ['$defs', 'definitions']) {
        const defs = schema[defsKey];
        if (isSchema(defs)) {
          for (const [name, def] of Object.entries(defs)) {
            if (isSchema(def) && !this.#byId.has(name)) this.#byId.set(name, def);
          }
        }
      }
    }
    for (const child of Object.values(node)) this.#index(child, seen);
  }
}

/** Schema information of one position, computed on first use (schemas may be recursive). */
class JsonSchemaInfo implements SchemaInfo {
  readonly #schemas: readonly unknown[];
  readonly #resolver: Resolver;
  readonly #embedded: boolean;
  #atoms: JsonSchema[] | undefined;
  #map: MapInfo | null | undefined;
  #list: ListInfo | null | undefined;

  constructor(schemas: readonly unknown[], resolver: Resolver, embedded: boolean) {
    this.#schemas = schemas;
    this.#resolver = resolver;
    this.#embedded = embedded;
  }

  get map(): MapInfo | undefined {
    if (this.#map === undefined) {
      const objects = this.#allAtoms().filter(isObjectSchema);
      if (objects.length > 0) this.#map = new JsonMapInfo(objects, this.#resolver, this.#embedded);
      else this.#map = this.#allAtoms().some(isUntypedSchema) ? UNTYPED_MAP : null;
    }
    return this.#map ?? undefined;
  }

  get list(): ListInfo | undefined {
    if (this.#list === undefined) {
      const arrays = this.#allAtoms().filter(isArraySchema);
      if (arrays.length > 0) this.#list = new JsonListInfo(arrays, this.#resolver);
      else this.#list = this.#allAtoms().some(isUntypedSchema) ? UNTYPED_LIST : null;
    }
    return this.#list ?? undefined;
  }

  #allAtoms(): JsonSchema[] {
    this.#atoms ??= this.#schemas.flatMap((s) => this.#resolver.atoms(s));
    return this.#atoms;
  }
}

class JsonMapInfo implements MapInfo {
  readonly atomic: boolean;
  readonly #atoms: JsonSchema[];
  readonly #resolver: Resolver;
  readonly #embedded: boolean;
  readonly #fields = new Map<string, FieldInfo>();

  constructor(atoms: JsonSchema[], resolver: Resolver, embedded: boolean) {
    this.#atoms = atoms;
    this.#resolver = resolver;
    this.#embedded = embedded || atoms.some((a) => a['x-kubernetes-embedded-resource'] === true);
    this.atomic = atoms.some((a) => a['x-kubernetes-map-type'] === 'atomic');
  }

  field(key: string): FieldInfo {
    let field = this.#fields.get(key);
    if (!field) {
      field = this.#compute(key);
      this.#fields.set(key, field);
    }
    return field;
  }

  #compute(key: string): FieldInfo {
    if (this.#embedded && key === 'metadata') return { info: objectMetaInfo, named: true, required: true };
    const declared = this.#atoms.flatMap((a) => {
      const props = a.properties;
      return isSchema(props) && Object.hasOwn(props, key) ? [props[key]] : [];
    });
    if (declared.length > 0) {
      const required = this.#atoms.some((a) => Array.isArray(a.required) && a.required.includes(key));
      return { info: this.#resolver.info(declared, false), named: true, required };
    }
    const elements = this.#atoms.flatMap((a) => elementSchemas(a, key));
    if (elements.length > 0)
      return { info: this.#resolver.info(elements, false), named: false, required: false };
    return UNTYPED_FIELD;
  }
}

function elementSchemas(atom: JsonSchema, key: string): unknown[] {
  const out: unknown[] = [];
  const patterns = atom.patternProperties;
  if (isSchema(patterns)) {
    for (const [pattern, schema] of Object.entries(patterns)) {
      if (matches(pattern, key)) out.push(schema);
    }
  }
  const additional = atom.additionalProperties;
  if (out.length === 0 && (additional === true || isSchema(additional))) out.push(additional);
  return out;
}

function matches(pattern: string, key: string): boolean {
  try {
    return new RegExp(pattern, 'u').test(key);
  } catch {
    return false;
  }
}

class JsonListInfo implements ListInfo {
  readonly type: ListType;
  readonly keys: readonly string[];
  readonly item: SchemaInfo;
  readonly #itemSchemas: unknown[];
  readonly #resolver: Resolver;
  readonly #defaults = new Map<string, unknown>();

  constructor(atoms: JsonSchema[], resolver: Resolver) {
    const declared = atoms.map((a) => a['x-kubernetes-list-type']).find((t) => typeof t === 'string');
    const keys = atoms.map((a) => a['x-kubernetes-list-map-keys']).find(Array.isArray) ?? [];
    this.keys = keys.filter((k): k is string => typeof k === 'string');
    const type: ListType = declared === 'set' || declared === 'map' ? declared : 'atomic';
    // A map list without keys cannot be merged item by item; the apiserver rejects such a schema.
    this.type = type === 'map' && this.keys.length === 0 ? 'atomic' : type;
    if (this.type !== 'map') this.keys = [];
    this.#itemSchemas = atoms.flatMap((a) =>
      a.items === undefined || Array.isArray(a.items) ? [{}] : [a.items],
    );
    this.#resolver = resolver;
    this.item = resolver.info(this.#itemSchemas, false);
  }

  keyDefault(key: string): unknown {
    if (!this.#defaults.has(key)) this.#defaults.set(key, this.#findDefault(key));
    return this.#defaults.get(key);
  }

  #findDefault(key: string): unknown {
    for (const atom of this.#itemSchemas.flatMap((s) => this.#resolver.atoms(s))) {
      const props = atom.properties;
      const prop = isSchema(props) ? props[key] : undefined;
      for (const a of this.#resolver.atoms(prop)) if ('default' in a) return a.default;
    }
    return undefined;
  }
}

function types(atom: JsonSchema): string[] {
  const t = atom.type;
  return typeof t === 'string'
    ? [t]
    : Array.isArray(t)
      ? t.filter((x): x is string => typeof x === 'string')
      : [];
}

function isObjectSchema(atom: JsonSchema): boolean {
  const t = types(atom);
  if (t.length > 0) return t.includes('object');
  return (
    'properties' in atom ||
    'patternProperties' in atom ||
    isSchema(atom.additionalProperties) ||
    'x-kubernetes-map-type' in atom ||
    atom['x-kubernetes-embedded-resource'] === true
  );
}

function isArraySchema(atom: JsonSchema): boolean {
  const t = types(atom);
  if (t.length > 0) return t.includes('array');
  return 'items' in atom || 'x-kubernetes-list-type' in atom;
}

/** No type information at all (or explicitly preserved unknown fields without a type). */
function isUntypedSchema(atom: JsonSchema): boolean {
  if (types(atom).length > 0 || isObjectSchema(atom) || isArraySchema(atom)) return false;
  return !('enum' in atom || 'const' in atom || atom['x-kubernetes-int-or-string'] === true);
}

function isSchema(v: unknown): v is JsonSchema {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
