import type { KindDefinition } from '../../../api/index.ts';
import { type SchemaInfo, schemaInfoFrom } from '../apply/index.ts';

const cache = new WeakMap<KindDefinition, SchemaInfo>();

/** The server-side-apply schema information of a kind, built once. */
export function schemaInfoOf(def: KindDefinition): SchemaInfo {
  let info = cache.get(def);
  if (!info) {
    info = schemaInfoFrom(def.schema);
    cache.set(def, info);
  }
  return info;
}
