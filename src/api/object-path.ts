/**
 * Object paths: the relative part of an uploaded object's key
 * (`devices/<device>/<namespace>/<workload>/<relative path>`), as the agent
 * sends it, a person names it and a Workload's `spec.uploads[].target`
 * prefixes it. One strict validator, used on both sides, so that no form of
 * traversal reaches a storage backend: what it accepts is a plain relative
 * POSIX path whose segments are neither `.` nor `..`, written so that no
 * decoding (percent, UTF-8, Unicode compatibility) can turn it into one.
 */

/** The longest relative object path, in UTF-8 bytes (S3 keys stop at 1024 with the prefix). */
export const MAX_OBJECT_PATH_BYTES = 768;
const MAX_SEGMENT_BYTES = 255;

/**
 * Characters that look like `/`, `\` or `.` without being them. Those whose
 * compatibility form (NFKC) is a slash or a dot are caught by that rule too;
 * these are the ones NFKC leaves alone.
 */
const LOOKALIKES = new Set([
  '\u2215', // DIVISION SLASH
  '\u2044', // FRACTION SLASH
  '\u29f8', // BIG SOLIDUS
  '\u29f9', // BIG REVERSE SOLIDUS
  '\u2216', // SET MINUS
  '\u2571', // BOX DRAWINGS LIGHT DIAGONAL
  '\u2572',
  '\u3033', // VERTICAL KANA REPEAT MARK UPPER HALF
  '\u0338', // COMBINING LONG SOLIDUS OVERLAY
  '\u3002', // IDEOGRAPHIC FULL STOP
  '\uff61', // HALFWIDTH IDEOGRAPHIC FULL STOP
  '\u00b7', // MIDDLE DOT
  '\u2027', // HYPHENATION POINT
  '\u2219', // BULLET OPERATOR
]);

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Why `path` is not an acceptable relative object path, or undefined when
 * it is. Refused: empty or too long; NUL and control characters; a
 * backslash; a leading `/` (absolute) or a drive letter; empty, `.` or `..`
 * segments; any percent-escape (`%2e`, `%2f`, `%252e`: a path is never
 * URL-encoded here, so an escape can only be an attempt to be decoded
 * later); U+FFFD and lone surrogates (what overlong or otherwise invalid
 * UTF-8 decodes to); Unicode lookalikes of `/`, `\` and `.`.
 */
export function objectPathProblem(path: unknown): string | undefined {
  if (typeof path !== 'string') return 'must be a string';
  if (path === '') return 'must not be empty';
  if (Buffer.byteLength(path, 'utf8') > MAX_OBJECT_PATH_BYTES)
    return `must be at most ${MAX_OBJECT_PATH_BYTES} bytes`;
  if (LONE_SURROGATE.test(path) || path.includes('\ufffd'))
    return 'must be valid UTF-8 (an overlong or broken sequence was sent)';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused.
  if (/[\u0000-\u001f\u007f]/.test(path))
    return path.includes('\0') ? 'must not contain a NUL byte' : 'must not contain control characters';
  if (path.includes('\\')) return 'must not contain a backslash';
  if (path.startsWith('/')) return 'must be relative, not absolute';
  if (/^[A-Za-z]:/.test(path)) return 'must be relative, not a drive path';
  if (/%[0-9A-Fa-f]{2}/.test(path)) return 'must not contain percent-encoded characters';
  for (const ch of path) {
    if (ch.charCodeAt(0) < 0x80) continue;
    const compatible = ch.normalize('NFKC');
    if (LOOKALIKES.has(ch) || /[/\\.%]/.test(compatible))
      return `must not contain U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}, a lookalike of "/", "\\" or "."`;
  }
  for (const segment of path.split('/')) {
    if (segment === '') return 'must not contain empty segments ("//" or a trailing "/")';
    if (segment === '.' || segment === '..') return `must not contain a "${segment}" segment`;
    if (Buffer.byteLength(segment, 'utf8') > MAX_SEGMENT_BYTES)
      return `must have segments of at most ${MAX_SEGMENT_BYTES} bytes`;
  }
  return undefined;
}

/** Thrown when an object path is refused; the message names the path and why. */
export class ObjectPathError extends Error {
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`object path ${JSON.stringify(path)} ${problem}`);
    this.name = 'ObjectPathError';
  }
}

/** `path` when it is an acceptable relative object path. @throws ObjectPathError otherwise */
export function checkObjectPath(path: string): string {
  const problem = objectPathProblem(path);
  if (problem) throw new ObjectPathError(path, problem);
  return path;
}

/** The key of an uploaded object: `devices/<device>/<namespace>/<workload>/<relative path>`. */
export function objectKey(device: string, namespace: string, workload: string, path: string): string {
  return `devices/${device}/${namespace}/${workload}/${checkObjectPath(path)}`;
}
