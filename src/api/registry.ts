import { apiVersionOf, type KindDefinition } from './kind.ts';

/** Looks kinds up the ways URLs and objects name them. */
export class KindRegistry {
  readonly kinds: readonly KindDefinition[];
  readonly #byResource = new Map<string, KindDefinition>();
  readonly #byKind = new Map<string, KindDefinition>();

  constructor(kinds: readonly KindDefinition[]) {
    this.kinds = kinds;
    for (const def of kinds) {
      this.#byResource.set(`${def.group}/${def.version}/${def.plural}`, def);
      this.#byKind.set(`${apiVersionOf(def)}/${def.kind}`, def);
    }
  }

  /** The kind served at `/apis/GROUP/VERSION/PLURAL` (group '' for `/api/v1`). */
  byResource(group: string, version: string, plural: string): KindDefinition | undefined {
    return this.#byResource.get(`${group}/${version}/${plural}`);
  }

  /** The kind an object's `apiVersion` and `kind` name. */
  byKind(apiVersion: string, kind: string): KindDefinition | undefined {
    return this.#byKind.get(`${apiVersion}/${kind}`);
  }

  /** Groups with their versions, in registration order (core group first when present). */
  groups(): Array<{ group: string; versions: string[] }> {
    const groups = new Map<string, Set<string>>();
    for (const def of this.kinds) {
      const versions = groups.get(def.group) ?? new Set<string>();
      versions.add(def.version);
      groups.set(def.group, versions);
    }
    return [...groups].map(([group, versions]) => ({ group, versions: [...versions] }));
  }

  /** Kinds served in one group version. */
  inGroupVersion(group: string, version: string): KindDefinition[] {
    return this.kinds.filter((def) => def.group === group && def.version === version);
  }
}
