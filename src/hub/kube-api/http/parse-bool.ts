/**
 * Boolean query parameters (`watch`, `allowWatchBookmarks`, `sendInitialEvents`, `force`,
 * `orphanDependents`, `follow`, ...) read the way the apiserver reads them. Its parameter codec
 * (apimachinery `runtime.Convert_Slice_string_To_bool` and `..._To_Pointer_bool`) is not Go's
 * `strconv.ParseBool`: absent is false, `0` and `false` in any letter case are false, and every
 * other value is true, the empty one (`?watch`) included. The Python client sends `watch=True`,
 * client-go and kubectl `true`, curl users `?watch`: all of them mean true there, and here.
 */

/**
 * The value of a boolean query parameter as the apiserver decodes it. A repeated parameter (an
 * array, as fastify's query parser gives it) counts by its first value, as Go's codec does.
 */
export function queryBool(value: unknown): boolean {
  const first = Array.isArray(value) ? (value as unknown[])[0] : value;
  if (first === undefined || first === null) return false;
  const text = String(first);
  return !(text === '0' || text.toLowerCase() === 'false');
}
