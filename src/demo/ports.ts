/**
 * The demo's ports, the same on every run while they stay free. The agent
 * keeps the hub's URL in its credentials and the connector keeps the
 * simulator's address in its spec: a run on the last run's ports has nothing
 * to re-point, and the agent starts its connector from its local Mailbox
 * copy before it has even reached the hub. When a port was taken meanwhile,
 * a new one is chosen and the agent's credentials are pointed at it.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import YAML from 'yaml';
import { writeFileAtomic } from '../util/index.ts';

/** The ports of one run, remembered in `DIR/ports.json`. */
export interface DemoPorts {
  /** The hub's HTTPS port. */
  readonly hub: number;
  /** The PLC simulator's OPC UA port. */
  readonly plc: number;
}

const PORTS_FILE = 'ports.json';
const HOST = '127.0.0.1';

/** The last run's ports where they are still free on 127.0.0.1, new free ones for the rest; remembered for the next run. */
export async function choosePorts(dir: string): Promise<DemoPorts> {
  let last: Partial<DemoPorts> = {};
  try {
    last = JSON.parse(await readFile(join(dir, PORTS_FILE), 'utf8')) as Partial<DemoPorts>;
  } catch {
    // a first run
  }
  const hub = await keepOrPick(last.hub, []);
  const plc = await keepOrPick(last.plc, [hub]);
  const ports = { hub, plc };
  await writeFile(join(dir, PORTS_FILE), `${JSON.stringify(ports)}\n`, { mode: 0o600 });
  return ports;
}

/**
 * Points the credentials of the agent in `agentDir` (its kubeconfig) at
 * `hubUrl` when they name another hub. Returns whether it changed them.
 * Only while no agent runs on that folder.
 */
export async function pointAgentAt(agentDir: string, hubUrl: string): Promise<boolean> {
  const path = join(agentDir, 'kubeconfig');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return false; // not enrolled yet: the agent gets the URL with --hub
  }
  const config = YAML.parse(text) as { clusters?: { cluster?: { server?: string } }[] };
  let changed = false;
  for (const entry of config.clusters ?? []) {
    if (entry.cluster && entry.cluster.server !== hubUrl) {
      entry.cluster.server = hubUrl;
      changed = true;
    }
  }
  if (changed) await writeFileAtomic(path, YAML.stringify(config), 0o600);
  return changed;
}

async function keepOrPick(port: number | undefined, taken: readonly number[]): Promise<number> {
  if (
    port !== undefined &&
    Number.isInteger(port) &&
    !taken.includes(port) &&
    (await listenOn(port)) === port
  )
    return port;
  for (let attempt = 0; attempt < 20; attempt++) {
    const picked = await listenOn(0);
    if (picked !== undefined && !taken.includes(picked)) return picked;
  }
  throw new Error(`no free port on ${HOST}`);
}

/** Listens on `port` (0: any) and closes at once; the port it got, or undefined when it is in use. */
function listenOn(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen({ host: HOST, port, exclusive: true }, () => {
      const address = server.address();
      const got = typeof address === 'object' && address ? address.port : undefined;
      server.close(() => resolve(got));
    });
  });
}
