/**
 * Whether a decoded JSON value (what `JSON.parse` or a YAML parser returns) nests objects and
 * arrays deeper than `limit`: a scalar is depth 0, `{}` and `[]` depth 1, `{"a":[]}` depth 2.
 * Walks with its own stack, never recursing, so any depth `JSON.parse` accepted can be measured;
 * stops at the first container beyond `limit`. For trees only (a cycle would not end).
 */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  if (value === null || typeof value !== 'object') return false;
  const values: unknown[] = [value];
  const depths: number[] = [1];
  while (values.length > 0) {
    const current = values.pop() as object;
    const depth = depths.pop()!;
    if (depth > limit) return true;
    const children = Array.isArray(current) ? current : Object.values(current);
    for (const child of children) {
      if (child !== null && typeof child === 'object') {
        values.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}
