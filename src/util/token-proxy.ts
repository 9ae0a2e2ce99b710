/**
 * A bootstrap token that also tells the device how to reach the hub: for a
 * device in a nested network, `outpost token create --parent NAME` prints
 * `<id>.<secret>.<proxy>`, the third part being the parent gateway's proxy
 * URL in base64url (no character a shell or a YAML file would trip on). The
 * agent splits it: the proxy is kept for every connection, the hub is sent
 * `<id>.<secret>` only. The CLI (which writes it) and the agent (which reads
 * it) share this, and neither may import the other.
 */

/** `token` with `proxy` appended as its third part. */
export function tokenWithProxy(token: string, proxy: string): string {
  return `${token}.${Buffer.from(proxy).toString('base64url')}`;
}

/** Splits a token given to the agent into the token the hub checks and the proxy it carries, if any. */
export function splitTokenProxy(text: string): { token: string; proxy?: string } {
  const parts = text.trim().split('.');
  if (parts.length !== 3) return { token: text.trim() };
  return { token: `${parts[0]}.${parts[1]}`, proxy: Buffer.from(parts[2]!, 'base64url').toString('utf8') };
}
