import { type NetworkInterfaceInfo, networkInterfaces } from 'node:os';

/**
 * This machine's own IP addresses, as the device reports them
 * (`status.system.addresses`): its parent's proxy accepts CONNECTs from
 * these only (nested networks). Loopback and IPv6 link-local addresses are
 * left out: no other machine sees a connection come from them. Sorted, so
 * that the same machine always reports the same list.
 */
export function hostAddresses(
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): string[] {
  const addresses = new Set<string>();
  for (const infos of Object.values(interfaces)) {
    for (const info of infos ?? []) {
      if (info.internal) continue;
      if (info.family === 'IPv6' && /^fe80:/i.test(info.address)) continue;
      addresses.add(info.address);
    }
  }
  return [...addresses].sort();
}
