import { hash } from 'node:crypto';

/**
 * JSON with object keys sorted at every level, so that two equal values give
 * the same text whatever order their keys were written in.
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
 * The content hash of a customised object as the Mailbox carries it
 * (`sha256:` and 32 hex digits): the agent reports it back as `observedHash`
 * once it has applied exactly that content. It hashes the JSON text as
 * rendered: rendering is deterministic (keys in the order the Workload
 * wrote them), so equal inputs give equal hashes; reordering the keys of a
 * Workload's object changes the hash once, which costs one rewrite, not a
 * wrong answer. (JSON.stringify is native, several times faster than
 * {@link canonicalJson}, and this runs for every object of every device.)
 */
export function contentHash(value: unknown): string {
  return `sha256:${hash('sha256', JSON.stringify(value), 'hex').slice(0, 32)}`;
}
