/**
 * The Kubernetes schemas of the kinds a Workload may hold, as `definitions.json` (written by
 * `scripts/generate-kubernetes-definitions.mjs` from the models of @kubernetes/client-node, which
 * are generated from the Kubernetes OpenAPI document; its `source` names the versions). Read on
 * first use, never at import: the agent and a hub that is never sent a Workload do not load them.
 */
import { readFileSync } from 'node:fs';

/**
 * A field's type: `string`, `int32`, `int64`, `double`, `boolean`, `time`, `bytes` (base64),
 * `int-or-string`, `quantity`, `any`, `[T]` (an array of T), `{T}` (a map of T) or the name of a
 * {@link Definition}.
 */
export type FieldType = string;

/** One object type of the schema: its fields and those that must be set. */
export interface Definition {
  readonly properties: Readonly<Record<string, FieldType>>;
  readonly required?: readonly string[];
}

/** The file's content. */
export interface KubernetesDefinitions {
  /** Where the definitions came from (package and OpenAPI versions). */
  readonly source: string;
  /** Each kind's apiVersion and the definition of its objects. */
  readonly kinds: Readonly<Record<string, { readonly apiVersion: string; readonly model: string }>>;
  readonly definitions: Readonly<Record<string, Definition>>;
}

/**
 * The JSON sits in the source tree and is read from there by the sources and their builds alike
 * (`src/`, `dist/` and `.test-build/` are all two levels below the repository's root), since the
 * TypeScript build copies no data files.
 */
const FILE = new URL('../../../src/api/kubernetes/definitions.json', import.meta.url);

let loaded: KubernetesDefinitions | undefined;

/** The definitions, read once. */
export function kubernetesDefinitions(): KubernetesDefinitions {
  loaded ??= JSON.parse(readFileSync(FILE, 'utf8')) as KubernetesDefinitions;
  return loaded;
}
