/**
 * The device's credentials on disk: one kubeconfig (`DIR/kubeconfig`, mode
 * 0600) holding the hub's URL, its CA, the device's certificate and its
 * private key. One file, replaced atomically, so a renewal never leaves a key
 * beside a certificate of another key; and kubectl can use it as it is.
 */
import { join } from 'node:path';
import YAML from 'yaml';
import { readFileIfExists, writeFileAtomic } from '../../util/index.ts';
import { publicKeyHash, readCertificate } from './keys.ts';

/** A device's identity towards the hub. */
export interface DeviceCredentials {
  readonly hubUrl: string;
  /** The device's name (from the certificate's CN). */
  readonly name: string;
  /** The uid of the Device object the certificate is bound to. */
  readonly uid: string;
  readonly keyPem: string;
  readonly certPem: string;
  /** The hub's CA, to verify the hub with. */
  readonly caPem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The kubeconfig file holding these credentials. */
  readonly kubeconfigPath: string;
}

/** The kubeconfig of the device in its data dir. */
export function kubeconfigPathOf(dataDir: string): string {
  return join(dataDir, 'kubeconfig');
}

/**
 * Assembles credentials from PEMs, checking that the certificate is a device
 * certificate for this very key.
 * @throws Error when the certificate is not for `keyPem`'s public key.
 */
export function credentialsOf(
  dataDir: string,
  parts: { hubUrl: string; keyPem: string; certPem: string; caPem: string },
): DeviceCredentials {
  if (publicKeyHash(parts.certPem) !== publicKeyHash(parts.keyPem))
    throw new Error('the certificate the hub sent is not for this device key');
  const info = readCertificate(parts.certPem);
  return { ...parts, ...info, kubeconfigPath: kubeconfigPathOf(dataDir) };
}

/** Reads the credentials in `dataDir`; undefined when the device has not enrolled yet. */
export async function loadCredentials(dataDir: string): Promise<DeviceCredentials | undefined> {
  const text = await readFileIfExists(kubeconfigPathOf(dataDir));
  if (text === undefined) return undefined;
  const config = YAML.parse(text) as {
    clusters?: { cluster?: Record<string, string> }[];
    users?: { user?: Record<string, string> }[];
  };
  const cluster = config.clusters?.[0]?.cluster ?? {};
  const user = config.users?.[0]?.user ?? {};
  const decode = (value: string | undefined) => Buffer.from(value ?? '', 'base64').toString('utf8');
  return credentialsOf(dataDir, {
    hubUrl: cluster.server ?? '',
    caPem: decode(cluster['certificate-authority-data']),
    certPem: decode(user['client-certificate-data']),
    keyPem: decode(user['client-key-data']),
  });
}

/** Writes credentials as `dataDir/kubeconfig` (0600), replacing the previous ones atomically. */
export async function saveCredentials(dataDir: string, credentials: DeviceCredentials): Promise<void> {
  const encode = (pem: string) => Buffer.from(pem).toString('base64');
  const name = `outpost-device-${credentials.name}`;
  const kubeconfig = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'outpost',
        cluster: { server: credentials.hubUrl, 'certificate-authority-data': encode(credentials.caPem) },
      },
    ],
    users: [
      {
        name,
        user: {
          'client-certificate-data': encode(credentials.certPem),
          'client-key-data': encode(credentials.keyPem),
        },
      },
    ],
    contexts: [{ name: 'outpost', context: { cluster: 'outpost', user: name } }],
    'current-context': 'outpost',
  };
  await writeFileAtomic(kubeconfigPathOf(dataDir), YAML.stringify(kubeconfig), 0o600);
}
