/**
 * Pure patch functions for the Kubernetes-compatible API: JSON merge patch (RFC 7386), JSON patch
 * (RFC 6902) and Kubernetes strategic merge patch with the patch metadata of the served kinds.
 * No HTTP here: errors are `PatchError` subclasses the API layer maps to 400 / 422.
 */
export { applyJsonPatch, validateJsonPatch } from './json-patch.ts';
export { applyMergePatch } from './merge-patch.ts';
export { InvalidPatchError, MalformedPatchError, PatchError } from './patch-error.ts';
export { objectMetaPatchMeta, type PatchMeta, type PatchStrategy, patchMetaFor } from './patch-meta.ts';
export { applyStrategicMergePatch } from './strategic-merge-patch.ts';
