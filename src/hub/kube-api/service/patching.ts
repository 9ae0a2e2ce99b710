import { apiVersionOf, type KindDefinition, type KubeObject } from '../../../api/index.ts';
import type { PatchType } from '../../../controller/index.ts';
import { holdsSecretData, redactQuoted } from '../../admission/index.ts';
import { errors } from '../errors.ts';
import {
  applyJsonPatch,
  applyMergePatch,
  applyStrategicMergePatch,
  MalformedPatchError,
  PatchError,
  patchMetaFor,
} from '../patch/index.ts';

/** The patch kinds the API accepts, by their short names (the Client's). */
export type { PatchType };

/** Content types of PATCH bodies and the patch kind each means. */
export const PATCH_CONTENT_TYPES: Readonly<Record<string, PatchType>> = {
  'application/merge-patch+json': 'merge',
  'application/json-patch+json': 'json',
  'application/strategic-merge-patch+json': 'strategic',
  'application/apply-patch+yaml': 'apply',
  'application/apply-patch+cbor': 'apply',
};

/** Applies a merge, JSON or strategic merge patch to an object; patch failures become 4xx answers. */
export function applyPatch(
  def: KindDefinition,
  live: KubeObject,
  type: Exclude<PatchType, 'apply'>,
  patch: unknown,
): unknown {
  try {
    switch (type) {
      case 'merge':
        return applyMergePatch(live, patch);
      case 'json':
        return applyJsonPatch(live, patch);
      case 'strategic': {
        const meta = def.strategicMergePatch ? patchMetaFor(apiVersionOf(def), def.kind) : undefined;
        if (!meta) {
          throw errors.unsupportedMediaType(
            'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml',
          );
        }
        return applyStrategicMergePatch(live, patch, meta);
      }
    }
  } catch (error) {
    // Patch errors quote the values they choke on: never those sent for a kind holding secret data.
    const message =
      error instanceof PatchError && holdsSecretData(def) ? redactQuoted(error.message) : undefined;
    if (error instanceof MalformedPatchError) throw errors.badRequest(message ?? error.message);
    if (error instanceof PatchError) {
      throw errors.invalid(def, live.metadata.name ?? '', [
        { reason: 'FieldValueInvalid', field: 'patch', message: message ?? error.message },
      ]);
    }
    throw error;
  }
}
