import { readFileSync } from 'node:fs';
import { type NetworkInterfaceInfo, networkInterfaces } from 'node:os';

type Interfaces = NodeJS.Dict<NetworkInterfaceInfo[]>;

function reportable(infos: readonly NetworkInterfaceInfo[] | undefined): string[] {
  return (infos ?? [])
    .filter((info) => !info.internal && !(info.family === 'IPv6' && /^fe80:/i.test(info.address)))
    .map((info) => info.address);
}

/**
 * This machine's own IP addresses, as the device reports them
 * (`status.system.addresses`): its parent's proxy accepts CONNECTs from
 * these only (nested networks). Loopback and IPv6 link-local addresses are
 * left out: no other machine sees a connection come from them. Sorted, so
 * that the same machine always reports the same list.
 *
 * The addresses of an interface whose link is down are still reported while
 * the interface exists. Node (libuv) lists
 * only interfaces that are up and running, so a cut uplink would vanish
 * from the report; the heartbeats queued during the cut and replayed when
 * it returns would then tell the hub the device lost that address, and its
 * parent's proxy would refuse the very address the agent comes back from
 * (seen after a 60 s cut in the nested-levels test: the agent never reached
 * the hub again). An interface removed for good (gone from `/proc/net/dev`,
 * which lists the interfaces of the agent's own network namespace, up or
 * down; `/sys/class/net` shows those of whoever mounted sysfs) stops being
 * reported.
 */
export class HostAddresses {
  readonly #lastSeen = new Map<string, string[]>();
  readonly #interfaceNames: () => ReadonlySet<string>;

  constructor(interfaceNames: () => ReadonlySet<string> = interfacesInNamespace) {
    this.#interfaceNames = interfaceNames;
  }

  read(interfaces: Interfaces = networkInterfaces()): string[] {
    const addresses = new Set<string>();
    for (const [name, infos] of Object.entries(interfaces)) {
      const own = reportable(infos);
      if (own.length > 0) this.#lastSeen.set(name, own);
      for (const address of own) addresses.add(address);
    }
    const missing = [...this.#lastSeen.keys()].filter((name) => interfaces[name] === undefined);
    const existing = missing.length > 0 ? this.#interfaceNames() : new Set<string>();
    for (const name of missing) {
      if (!existing.has(name)) this.#lastSeen.delete(name);
      else for (const address of this.#lastSeen.get(name)!) addresses.add(address);
    }
    return [...addresses].sort();
  }
}

/** The names of the interfaces in this process's network namespace (none where there is no `/proc`). */
function interfacesInNamespace(): ReadonlySet<string> {
  try {
    const lines = readFileSync('/proc/net/dev', 'utf8').split('\n').slice(2);
    return new Set(lines.map((line) => line.split(':')[0]!.trim()).filter((name) => name.length > 0));
  } catch {
    return new Set();
  }
}
