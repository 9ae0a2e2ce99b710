/**
 * The verbs and identity hashes discovery and OpenAPI publish for each kind, in one place so
 * that both documents agree.
 */
import { createHash } from 'node:crypto';
import type { KindDefinition } from '../../../api/index.ts';

/** Every verb a kind serves unless its definition narrows them, in the apiserver's order. */
export const ALL_VERBS = [
  'create',
  'delete',
  'deletecollection',
  'get',
  'list',
  'patch',
  'update',
  'watch',
] as const;

/** The verbs of a `status` subresource. */
export const STATUS_VERBS = ['get', 'patch', 'update'] as const;

/** The verbs a kind serves, sorted. */
export function verbsOf(def: Pick<KindDefinition, 'verbs'>): string[] {
  return [...(def.verbs ?? ALL_VERBS)].sort();
}

/**
 * The `storageVersionHash` of a kind as the apiserver computes it: the first 8 bytes of the
 * SHA-256 of `group/version/kind`, base64. Clients only compare it for equality.
 */
export function storageVersionHash(def: Pick<KindDefinition, 'group' | 'version' | 'kind'>): string {
  return createHash('sha256')
    .update(`${def.group}/${def.version}/${def.kind}`)
    .digest()
    .subarray(0, 8)
    .toString('base64');
}
