/**
 * Writing kubeconfig files for kubectl and the `outpost` CLI: one cluster, one
 * user, one context made current. The reader lives in `src/cli/kubeconfig.ts`.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { stringify } from 'yaml';
import { writeFileAtomic } from '../../util/index.ts';

/** Options of {@link writeKubeconfig}. */
export interface WriteKubeconfigOptions {
  /** The hub's URL, e.g. `https://127.0.0.1:6443`. */
  readonly server: string;
  /** PEM of the CA that signed the hub's serving certificate. */
  readonly caCert: string;
  /** PEM client certificate; needs `clientKey`. */
  readonly clientCert?: string;
  /** PEM private key of `clientCert`. */
  readonly clientKey?: string;
  /** A bearer token, instead of or beside the client certificate. */
  readonly token?: string;
  /** Name of the user entry. @default 'outpost-admin' */
  readonly user?: string;
  /** Name of the cluster entry. @default 'outpost' */
  readonly cluster?: string;
}

/** A kubeconfig options object that cannot describe a usable configuration. */
export class InvalidKubeconfigOptionsError extends Error {
  override readonly name = 'InvalidKubeconfigOptionsError';
}

/**
 * Writes a standard kubeconfig (`apiVersion: v1`, `kind: Config`) to `path`,
 * replacing any file there atomically, with mode 0600 since it carries
 * credentials. Certificates and the key are embedded as base64 `*-data`
 * fields, so the file stands alone. The context is named `USER@CLUSTER`.
 * Missing parent folders are created (mode 0700).
 *
 * @throws InvalidKubeconfigOptionsError when the server is not an https URL,
 *   or a client certificate comes without its key (or the reverse).
 */
export async function writeKubeconfig(path: string, options: WriteKubeconfigOptions): Promise<void> {
  if (!/^https:\/\/./.test(options.server)) {
    throw new InvalidKubeconfigOptionsError(`kubeconfig server must be an https URL, got ${options.server}`);
  }
  if ((options.clientCert === undefined) !== (options.clientKey === undefined)) {
    throw new InvalidKubeconfigOptionsError('kubeconfig client certificate and key must be given together');
  }
  const cluster = options.cluster ?? 'outpost';
  const user = options.user ?? 'outpost-admin';
  const context = `${user}@${cluster}`;
  const credentials: Record<string, string> = {};
  if (options.clientCert !== undefined) credentials['client-certificate-data'] = base64(options.clientCert);
  if (options.clientKey !== undefined) credentials['client-key-data'] = base64(options.clientKey);
  if (options.token !== undefined) credentials.token = options.token;
  const document = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: cluster,
        cluster: { server: options.server, 'certificate-authority-data': base64(options.caCert) },
      },
    ],
    users: [{ name: user, user: credentials }],
    contexts: [{ name: context, context: { cluster, user } }],
    'current-context': context,
    preferences: {},
  };
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  // lineWidth 0: never fold the long base64 lines (kubectl would read folded ones, but humans grep them).
  await writeFileAtomic(path, stringify(document, { lineWidth: 0 }), 0o600);
}

function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}
