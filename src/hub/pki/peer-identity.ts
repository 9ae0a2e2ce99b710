/**
 * Who a client certificate says the caller is, in Kubernetes' terms: the
 * subject CN is the user name, each subject O is a group.
 */
import type { PeerCertificate } from 'node:tls';

/** A user as authentication hands it to authorisation (RBAC). */
export interface PeerIdentity {
  readonly user: string;
  readonly groups: string[];
}

/**
 * Reads the identity from a TLS peer certificate (`socket.getPeerCertificate()`).
 *
 * This does not check the certificate: call it only when `socket.authorized`
 * is true, i.e. Node verified the chain against the hub's CA.
 *
 * @returns undefined when there is no certificate (Node gives `{}` then), no
 *   CN, or several CNs (ambiguous: refused rather than guessed).
 */
export function peerIdentity(cert: PeerCertificate | undefined): PeerIdentity | undefined {
  // Node types the subject fields as strings, but a multi-valued attribute arrives as an array.
  const subject = cert?.subject as Record<string, string | string[] | undefined> | undefined;
  if (!subject) return undefined;
  const commonNames = asList(subject.CN);
  const user = commonNames[0];
  if (commonNames.length !== 1 || !user) return undefined;
  return { user, groups: asList(subject.O) };
}

function asList(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? [...value] : [value];
}
