import { join } from 'node:path';
import {
  DecryptionError,
  EncryptingStore,
  loadOrCreateEncryptionKeys,
  readEncryptionKeys,
  type Store,
} from '../store/index.ts';

/**
 * The resources whose stored values are encrypted by default: Secrets, and the
 * kinds that embed Secret manifests (Workloads, the Mailboxes rendered
 * from them, and Placements, whose rollout revisions copy their Workloads'
 * specs into status).
 */
export const DEFAULT_ENCRYPTED_RESOURCES: readonly string[] = [
  'secrets',
  'workloads.outpost.dev',
  'mailboxes.outpost.dev',
  // status.rollout.revisions holds copies of the placed Workloads' specs.
  'placements.outpost.dev',
  // May hold an OPC UA password inline (spec.credentials.password).
  'opcuaconnectors.outpost.dev',
];

export interface SecretsAtRestOptions {
  /** The hub's data dir; the key file is `DIR/encryption.key` unless `keyFile` is given. */
  readonly dataDir: string;
  /**
   * A key file to use (replicas sharing one database share it); it must exist.
   * @default DIR/encryption.key, created with one new key (mode 0600) when missing
   */
  readonly keyFile?: string;
  /** Resources (`plural` or `plural.group`) encrypted at rest. @default DEFAULT_ENCRYPTED_RESOURCES */
  readonly resources?: readonly string[];
}

/** The store key prefix of a resource: `secrets` → `/core/secrets/`, `workloads.outpost.dev` → `/outpost.dev/workloads/`. */
export function resourcePrefix(resource: string): string {
  const dot = resource.indexOf('.');
  return dot === -1 ? `/core/${resource}/` : `/${resource.slice(dot + 1)}/${resource.slice(0, dot)}/`;
}

/**
 * Wraps the hub's store so that the values of the chosen resources are
 * encrypted at rest, and checks at once that the key decrypts what is stored
 * (a wrong key stops the hub with a clear error instead of failing reads).
 * Closes `store` when it fails.
 */
export async function encryptSecretsAtRest(
  store: Store,
  options: SecretsAtRestOptions,
): Promise<EncryptingStore> {
  const file = options.keyFile ?? join(options.dataDir, 'encryption.key');
  try {
    const keys = options.keyFile ? await readEncryptionKeys(file) : await loadOrCreateEncryptionKeys(file);
    // The hub's internal keys (the shared CA's private key) are always encrypted.
    const prefixes = [
      ...(options.resources ?? DEFAULT_ENCRYPTED_RESOURCES).map(resourcePrefix),
      '/outpost.internal/',
    ];
    const encrypting = new EncryptingStore({ store, prefixes, keys });
    await encrypting.verify();
    return encrypting;
  } catch (error) {
    await store.close();
    if (error instanceof DecryptionError) {
      throw new Error(`${error.message}; is ${file} the key file this store was written with?`, {
        cause: error,
      });
    }
    throw error;
  }
}
