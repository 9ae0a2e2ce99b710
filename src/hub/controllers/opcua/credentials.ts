import type { KubeObject, OpcUaConnectorSpec } from '../../../api/index.ts';
import type { Credentials } from './render.ts';

/** The credentials a connector's spec asks for, or why they cannot be had (yet). */
export type CredentialsResult =
  | { readonly ok: true; readonly credentials: Credentials | undefined }
  | { readonly ok: false; readonly reason: 'SecretNotFound' | 'SecretKeyNotFound'; readonly message: string };

/** The Secret a connector reads its credentials from, as `namespace/name`, if any. */
export function credentialsSecretKey(connector: KubeObject): string | undefined {
  const ref = (connector.spec as OpcUaConnectorSpec | undefined)?.credentials?.secretRef;
  return ref ? `${connector.metadata.namespace}/${ref.name}` : undefined;
}

/**
 * Resolves a connector's credentials: inline ones as written; a `secretRef`
 * from the Secret `getSecret` returns (the informer's cache), its keys
 * `usernameKey` / `passwordKey` (default `username` / `password`) decoded
 * from base64. Anonymous (undefined) when the spec has no credentials.
 */
export function resolveCredentials(
  connector: KubeObject,
  getSecret: (namespace: string, name: string) => KubeObject | undefined,
): CredentialsResult {
  const credentials = (connector.spec as OpcUaConnectorSpec).credentials;
  if (!credentials) return { ok: true, credentials: undefined };
  const ref = credentials.secretRef;
  if (!ref) {
    return {
      ok: true,
      credentials: { username: credentials.username ?? '', password: credentials.password ?? '' },
    };
  }
  const namespace = connector.metadata.namespace!;
  const secret = getSecret(namespace, ref.name);
  if (!secret || secret.metadata.deletionTimestamp) {
    return {
      ok: false,
      reason: 'SecretNotFound',
      message: `Secret ${namespace}/${ref.name} (spec.credentials.secretRef) not found`,
    };
  }
  const data = (secret.data ?? {}) as Record<string, string>;
  const usernameKey = ref.usernameKey ?? 'username';
  const passwordKey = ref.passwordKey ?? 'password';
  const missing = [usernameKey, passwordKey].filter((key) => data[key] === undefined);
  if (missing.length > 0) {
    return {
      ok: false,
      reason: 'SecretKeyNotFound',
      message: `Secret ${namespace}/${ref.name} has no key ${missing.map((key) => JSON.stringify(key)).join(' or ')}`,
    };
  }
  const decode = (key: string) => Buffer.from(data[key]!, 'base64').toString('utf8');
  const username = decode(usernameKey);
  if (username === '') {
    return {
      ok: false,
      reason: 'SecretKeyNotFound',
      message: `Secret ${namespace}/${ref.name} has an empty ${JSON.stringify(usernameKey)}`,
    };
  }
  return { ok: true, credentials: { username, password: decode(passwordKey) } };
}
