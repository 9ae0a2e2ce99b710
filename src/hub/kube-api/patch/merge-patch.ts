/**
 * JSON merge patch (RFC 7386), as `kubectl patch --type merge` and `kubectl apply` of custom
 * resources send it (`application/merge-patch+json`).
 */
import { cloneJson, hasOwn, isJsonObject, type JsonObject, setOwn } from './json-value.ts';

/**
 * Applies an RFC 7386 merge patch to `target` and returns the result.
 *
 * Objects merge key by key, a `null` value removes the key, anything else (arrays included)
 * replaces. A patch that is not an object replaces the whole target, as the RFC says; the
 * apiserver refuses such a body with 400, so the HTTP layer must check the body is an object.
 * Neither input is mutated and the result shares no object with them.
 */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isJsonObject(patch)) return cloneJson(patch);
  const result: JsonObject = isJsonObject(target) ? cloneJson(target) : {};
  mergeInto(result, patch);
  return result;
}

function mergeInto(result: JsonObject, patch: JsonObject): void {
  for (const key of Object.keys(patch)) {
    const value = patch[key];
    if (value === null) {
      delete result[key];
    } else if (isJsonObject(value)) {
      const current = hasOwn(result, key) ? result[key] : undefined;
      const next: JsonObject = isJsonObject(current) ? current : {};
      // `next` is already a private copy (cloned target or fresh), so merging in place is safe.
      mergeInto(next, value);
      setOwn(result, key, next);
    } else {
      setOwn(result, key, cloneJson(value));
    }
  }
}
