/**
 * The proxy the agent reaches the hub through when it sits in a nested
 * network (its parent gateway's Squid): given at enrollment (`outpost agent
 * --proxy`, or carried by a bootstrap token that names the parent), kept in
 * the data dir (`DIR/hub-proxy`) so every later start uses it, and replaced
 * when the hub says the device's parent changed. While set it routes every
 * connection to the hub (HTTP/2 API, watch, reports, logs, the telemetry
 * WebSocket: all ask {@link proxyFor}), ahead of `HTTPS_PROXY`, and
 * `NO_PROXY` does not exempt the hub from it: the hub is reachable only
 * through the parent.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { readFileIfExists, writeFileAtomic } from '../../util/index.ts';

let current: string | undefined;

/** The proxy set for the hub, if any. */
export function hubProxy(): string | undefined {
  return current;
}

/** Routes the next connections to the hub through `url` (an `http:` proxy URL), or as the environment says. */
export function useHubProxy(url: string | undefined): void {
  current = url;
}

/** The file in the agent's data dir that keeps the proxy. */
function fileOf(dataDir: string): string {
  return join(dataDir, 'hub-proxy');
}

/**
 * Checks a proxy URL: `http://HOST:PORT` (Squid's plain listener; the tunnel
 * inside is TLS with the hub).
 * @throws Error naming what is wrong.
 */
export function checkProxyUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`the proxy must be a URL such as http://10.0.3.1:3128, not ${JSON.stringify(text)}`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname || url.pathname.length > 1)
    throw new Error(`the proxy must be http://HOST:PORT (or https://), not ${JSON.stringify(text)}`);
  return url.href.replace(/\/$/, '');
}

/** The proxy kept in `dataDir`, if any. */
export async function loadHubProxy(dataDir: string): Promise<string | undefined> {
  const text = (await readFileIfExists(fileOf(dataDir)))?.trim();
  return text ? text : undefined;
}

/** Keeps `url` in `dataDir` (or forgets the proxy), and uses it from now on. */
export async function saveHubProxy(dataDir: string, url: string | undefined): Promise<void> {
  if (url === undefined) await rm(fileOf(dataDir), { force: true });
  else await writeFileAtomic(fileOf(dataDir), `${url}\n`, 0o600);
  useHubProxy(url);
}

/**
 * Takes up the proxy the hub names for this device (`status.nested.hubProxy`,
 * its parent's, read from the Device each heartbeat answers with) when it
 * differs from the one in use; answers the new proxy, or undefined when
 * nothing changed. A device the hub names no proxy for keeps its own (given
 * by hand, or none).
 */
export async function followHubProxy(
  dataDir: string,
  device: Record<string, unknown>,
): Promise<string | undefined> {
  const named = (device.status as { nested?: { hubProxy?: unknown } } | undefined)?.nested?.hubProxy;
  if (typeof named !== 'string' || named === current) return undefined;
  let url: string;
  try {
    url = checkProxyUrl(named);
  } catch {
    return undefined; // written by the hub from a validated address: never expected
  }
  if (url === current) return undefined;
  await saveHubProxy(dataDir, url);
  return url;
}
