/**
 * Reading the kubeconfig the `outpost` CLI connects with: which file, and the
 * server and credentials of its current context.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { parse } from 'yaml';

/** Where and how to reach the hub, from one kubeconfig context. PEMs are text. */
export interface ClientConfig {
  /** The hub's URL. */
  readonly server: string;
  /** PEM CA bundle to verify the hub with; the system's trust store when absent. */
  readonly caCert?: string;
  readonly clientCert?: string;
  readonly clientKey?: string;
  /** A bearer token. */
  readonly token?: string;
  /** Present and true when the kubeconfig turns TLS verification off. */
  readonly insecureSkipTLSVerify?: boolean;
}

/** Options of {@link loadKubeconfig}. */
export interface LoadKubeconfigOptions {
  /** Use this context instead of `current-context` (kubectl's `--context`). */
  readonly context?: string;
}

/** A kubeconfig that cannot be used; the message is one line naming the file and what is wrong. */
export class KubeconfigError extends Error {
  override readonly name = 'KubeconfigError';
  /** The kubeconfig file at fault. */
  readonly path: string;

  constructor(path: string, problem: string, options?: ErrorOptions) {
    super(`kubeconfig ${path}: ${problem}`, options);
    this.path = path;
  }
}

/**
 * Chooses the kubeconfig file as kubectl does for a single file: the flag,
 * else the first non-empty entry of `KUBECONFIG` (a path list, `:` on POSIX),
 * else `~/.kube/config`. The file need not exist.
 */
export function resolveKubeconfigPath(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (flag) return flag;
  const first = (env.KUBECONFIG ?? '').split(delimiter).find((entry) => entry !== '');
  return first ?? join(homedir(), '.kube', 'config');
}

/**
 * Loads the current (or the chosen) context of a kubeconfig: its cluster's
 * server and CA, and its user's client certificate, key and token. Each may be
 * inline base64 (`*-data`) or a file path, relative paths resolved against the
 * kubeconfig's folder; `tokenFile` is read too. Exec and auth-provider
 * plugins are not supported and are ignored.
 *
 * @throws KubeconfigError when the file is missing or not YAML, the context,
 *   its cluster or its user is missing, the cluster has no server, a referenced
 *   file cannot be read, or a `*-data` field is not base64.
 */
export async function loadKubeconfig(
  path: string,
  options: LoadKubeconfigOptions = {},
): Promise<ClientConfig> {
  const document = await readDocument(path);
  const contextName = options.context ?? text(document['current-context']);
  if (!contextName) throw new KubeconfigError(path, 'no current-context is set');
  const context = record(named(document.contexts, contextName)?.context);
  if (!context) throw new KubeconfigError(path, `context "${contextName}" is missing`);

  const clusterName = text(context.cluster);
  const cluster = record(named(document.clusters, clusterName)?.cluster);
  if (!clusterName || !cluster) {
    throw new KubeconfigError(path, `cluster "${clusterName ?? ''}" of context "${contextName}" is missing`);
  }
  const server = text(cluster.server);
  if (!server) throw new KubeconfigError(path, `cluster "${clusterName}" has no server`);

  const userName = text(context.user);
  // A context without a user is valid kubeconfig: it connects anonymously.
  const user = userName ? record(named(document.users, userName)?.user) : {};
  if (!user) throw new KubeconfigError(path, `user "${userName}" of context "${contextName}" is missing`);

  const folder = dirname(resolve(path));
  const field = (entry: Record<string, unknown>, name: string) => inlineOrFile(path, folder, entry, name);
  const tokenFile = text(user.tokenFile);
  const caCert = await field(cluster, 'certificate-authority');
  const clientCert = await field(user, 'client-certificate');
  const clientKey = await field(user, 'client-key');
  const token =
    text(user.token) ?? (tokenFile ? (await readReferenced(path, folder, tokenFile)).trim() : undefined);
  // Absent fields are left out, not set to undefined, so the result compares and prints cleanly.
  const config: { -readonly [K in keyof ClientConfig]: ClientConfig[K] } = { server };
  if (caCert !== undefined) config.caCert = caCert;
  if (clientCert !== undefined) config.clientCert = clientCert;
  if (clientKey !== undefined) config.clientKey = clientKey;
  if (token !== undefined) config.token = token;
  if (cluster['insecure-skip-tls-verify'] === true) config.insecureSkipTLSVerify = true;
  return config;
}

async function readDocument(path: string): Promise<Record<string, unknown>> {
  let source: string;
  try {
    source = await readFile(path, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new KubeconfigError(path, code === 'ENOENT' ? 'file not found' : `cannot be read (${code})`, {
      cause,
    });
  }
  let document: unknown;
  try {
    document = parse(source);
  } catch (cause) {
    throw new KubeconfigError(path, 'is not valid YAML', { cause });
  }
  // An empty file parses to null: treat it as a config with nothing in it.
  return record(document) ?? {};
}

/** `NAME-data` (base64) wins over `NAME` (a file path), as in client-go. */
async function inlineOrFile(
  path: string,
  folder: string,
  entry: Record<string, unknown>,
  name: string,
): Promise<string | undefined> {
  const data = text(entry[`${name}-data`]);
  if (data) {
    const compact = data.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact))
      throw new KubeconfigError(path, `${name}-data is not base64`);
    return Buffer.from(compact, 'base64').toString('utf8');
  }
  const file = text(entry[name]);
  return file ? readReferenced(path, folder, file) : undefined;
}

async function readReferenced(path: string, folder: string, file: string): Promise<string> {
  const target = resolve(folder, file);
  try {
    return await readFile(target, 'utf8');
  } catch (cause) {
    throw new KubeconfigError(path, `cannot read referenced file ${target}`, { cause });
  }
}

function named(list: unknown, name: string | undefined): Record<string, unknown> | undefined {
  if (name === undefined || !Array.isArray(list)) return undefined;
  return list.map(record).find((item) => item?.name === name);
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}
