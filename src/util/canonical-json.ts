/**
 * JSON with object keys sorted at every level, so that two equal values give
 * the same text whatever order their keys were written in. As in
 * `JSON.stringify`, an object key whose value is undefined is left out and an
 * undefined array item is `null`; undefined itself gives `null`.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * Whether two values serialize to the same JSON, whatever the order of their
 * keys: what a JSON round trip (the hub storing and sending back an object)
 * cannot tell apart is equal, so a key whose value is undefined counts as
 * absent. For values read from JSON or about to be written as JSON.
 */
export function equalAsJson(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}
