import type { TSchema } from 'typebox';

/** A printer column for Table output (`kubectl get`). */
export interface PrinterColumn {
  readonly name: string;
  /** OpenAPI type of the cell: string, integer, number, boolean or date. */
  readonly type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  readonly format?: string;
  readonly description: string;
  /** 0 for the default view, 1 for `-o wide` only. */
  readonly priority?: number;
  /** The cell's value for an object (undefined prints as `<none>`). */
  readonly cell: (object: KubeObject) => string | number | boolean | undefined;
}

/** Any object the hub stores: the parts every kind has. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMetaShape;
  [field: string]: unknown;
}

/** The ObjectMeta fields the hub itself reads and writes (the schema in meta.ts is the full truth). */
export interface ObjectMetaShape {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReferenceShape[];
  managedFields?: unknown[];
  [field: string]: unknown;
}

export interface OwnerReferenceShape {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** Extra semantic checks beyond the JSON schema; returns causes (empty when valid). */
export type SemanticValidator = (object: KubeObject, old: KubeObject | undefined) => FieldCause[];

/** One reason an object is invalid, as a Kubernetes `StatusCause`. */
export interface FieldCause {
  readonly reason:
    | 'FieldValueRequired'
    | 'FieldValueInvalid'
    | 'FieldValueNotSupported'
    | 'FieldValueForbidden'
    | 'FieldValueDuplicate'
    | 'FieldValueTooLong'
    | 'FieldValueTypeInvalid';
  readonly message: string;
  /** Dotted path, e.g. `spec.resources[0].kind`. */
  readonly field: string;
}

/**
 * Everything the hub knows about one kind: its names, its schema (the one
 * source of the TypeScript type, validation and OpenAPI), how it prints.
 */
export interface KindDefinition {
  /** API group; '' for the core group. */
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  /** Lower-case plural used in URLs (`workloads`). */
  readonly plural: string;
  readonly singular: string;
  readonly shortNames?: readonly string[];
  readonly categories?: readonly string[];
  readonly namespaced: boolean;
  /** JSON schema of the whole object. */
  readonly schema: TSchema;
  readonly description: string;
  /** Whether the kind has a `status` subresource (spec and status written separately). */
  readonly statusSubresource: boolean;
  /** Whether strategic merge patch applies (built-in kinds); custom kinds answer 415 as for CRDs. */
  readonly strategicMergePatch: boolean;
  readonly printerColumns: readonly PrinterColumn[];
  /** Field selectors beyond metadata.name and metadata.namespace. */
  readonly fieldSelectors?: Readonly<Record<string, (object: KubeObject) => string | undefined>>;
  readonly validate?: SemanticValidator;
  /** Runs on every write before validation (e.g. Secret stringData folded into data). */
  readonly normalize?: (object: KubeObject) => void;
  /** The verbs the kind serves (all by default). */
  readonly verbs?: readonly string[];
  /**
   * How names are checked: `subdomain` (DNS-1123, most kinds) or
   * `path-segment` (anything that fits one URL segment: not `.` or `..`, no
   * `/` or `%`; RBAC kinds, whose names hold colons such as `system:discovery`).
   * @default 'subdomain' ('label' for Namespace)
   */
  readonly nameRule?: 'subdomain' | 'path-segment';
  /**
   * Set when this kind is another kind's objects in another shape, served
   * over that kind's storage as the apiserver serves `events.k8s.io/v1`
   * Events over core `v1` Events: one stored object, two views. The
   * conversion is a renaming of top-level fields (and of the first segment
   * of field selectors and JSON patch paths).
   * @default undefined: the kind is stored as itself
   */
  readonly storedAs?: StoredAs;
}

/** How a kind is stored as another ({@link KindDefinition.storedAs}). */
export interface StoredAs {
  /** The kind whose objects are stored (core `v1` Event for `events.k8s.io/v1` Event). */
  readonly kind: KindDefinition;
  /** This kind's top-level field name → the stored kind's (`note` → `message`); others keep their name. */
  readonly fields: Readonly<Record<string, string>>;
}

/** `group/version`, or `version` for the core group. */
export function apiVersionOf(def: Pick<KindDefinition, 'group' | 'version'>): string {
  return def.group === '' ? def.version : `${def.group}/${def.version}`;
}
