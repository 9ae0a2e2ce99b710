import { hash } from 'node:crypto';

/**
 * The content hash of a customised object as the Mailbox carries it
 * (`sha256:` and 32 hex digits): the agent reports it back as `observedHash`
 * once it has applied exactly that content. It hashes the JSON text as
 * rendered: rendering is deterministic (keys in the order the Workload
 * wrote them), so equal inputs give equal hashes; reordering the keys of a
 * Workload's object changes the hash once, which costs one rewrite, not a
 * wrong answer. (JSON.stringify is native, several times faster than
 * util's `canonicalJson`, and this runs for every object of every device.)
 */
export function contentHash(value: unknown): string {
  return `sha256:${hash('sha256', JSON.stringify(value), 'hex').slice(0, 32)}`;
}
