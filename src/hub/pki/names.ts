/**
 * Subject names and subject alternative names: building them for new
 * certificates and comparing them with what an existing certificate holds.
 */
import { isIP } from 'node:net';
import { x509 } from './crypto.ts';

// Letters, digits, '-', '_' and '.', with an optional leading '*.' wildcard label.
const DNS_NAME =
  /^(\*\.)?[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/i;

/** Hosts split into IP addresses and DNS names, both normalised (see {@link normaliseHost}). */
export interface HostSet {
  readonly ipAddresses: string[];
  readonly dnsNames: string[];
}

/** True when `name` is a syntactically valid DNS name for a certificate SAN. */
export function isDnsName(name: string): boolean {
  return name.length <= 253 && DNS_NAME.test(name);
}

/**
 * Normalises an IP address so two spellings of one address compare equal
 * (`0:0::1` and `::1`; brackets stripped), or lower-cases a DNS name.
 */
export function normaliseHost(host: string): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (isIP(bare) === 6) return new URL(`http://[${bare}]`).hostname.slice(1, -1);
  return bare.toLowerCase();
}

/**
 * Splits host entries into IP and DNS SANs, normalised and without duplicates;
 * empty entries are skipped.
 * @throws RangeError for an entry that is neither an IP address nor a DNS name.
 */
export function splitHosts(hosts: Iterable<string>): HostSet {
  const ips = new Set<string>();
  const names = new Set<string>();
  for (const host of hosts) {
    const value = normaliseHost(host.trim());
    if (value === '') continue; // an empty entry (e.g. from splitting an empty setting) names nothing
    if (isIP(value) !== 0) ips.add(value);
    else if (isDnsName(value)) names.add(value);
    else throw new RangeError(`not an IP address or DNS name: ${JSON.stringify(host)}`);
  }
  return { ipAddresses: [...ips], dnsNames: [...names] };
}

/** The IP and DNS SANs a certificate carries, normalised like {@link splitHosts}. */
export function certificateHosts(cert: x509.X509Certificate): HostSet {
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const ips: string[] = [];
  const names: string[] = [];
  for (const entry of san?.names.toJSON() ?? []) {
    if (entry.type === 'ip') ips.push(normaliseHost(entry.value));
    else if (entry.type === 'dns') names.push(normaliseHost(entry.value));
  }
  return { ipAddresses: ips, dnsNames: names };
}

/** True when every host of `wanted` is in `held`. */
export function coversHosts(held: HostSet, wanted: HostSet): boolean {
  return (
    wanted.ipAddresses.every((ip) => held.ipAddresses.includes(ip)) &&
    wanted.dnsNames.every((name) => held.dnsNames.includes(name))
  );
}

/**
 * A subject name with one RDN per organisation, then the common name, the
 * layout Kubernetes tooling produces (`O=system:masters, CN=admin`). Values go
 * in as data, never through DN string parsing, so commas and `=` are safe.
 */
export function subjectName(commonName: string, organizations: readonly string[] = []): x509.Name {
  return new x509.Name([...organizations.map((o) => ({ O: [o] })), { CN: [commonName] }]);
}
