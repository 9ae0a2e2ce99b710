/**
 * Errors thrown by the patch functions. Each class is one failure mode, chosen so the HTTP layer
 * can answer as the Kubernetes apiserver does without looking at messages.
 */

/** Base class of every error thrown by this folder; never thrown directly. */
export class PatchError extends Error {
  override name = 'PatchError';
}

/**
 * The patch document is not a patch of its type: a JSON patch that is not an array of objects, a
 * strategic merge patch that is not an object, or a strategic directive (`$retainKeys`,
 * `$setElementOrder/…`, `$deleteFromPrimitiveList/…`, `$patch`) in the wrong format.
 * The apiserver answers 400 Bad Request.
 */
export class MalformedPatchError extends PatchError {
  override name = 'MalformedPatchError';
}

/**
 * The patch is well formed but cannot be carried out on this object: an unknown JSON patch `op`,
 * a bad JSON pointer, a failed `test`, a path that does not exist, a merge list item without its
 * merge key, list elements of mixed types. The apiserver answers 422 Unprocessable Entity
 * ("the server rejected our request due to an error in our request").
 */
export class InvalidPatchError extends PatchError {
  override name = 'InvalidPatchError';
}
