/**
 * One CA for every hub replica on a store. The CA's certificate and key live
 * in the store under an internal key that no API path reaches; each replica
 * copies them into its own `DIR/pki/` and issues its own serving and admin
 * certificates from them, so every replica accepts every client certificate
 * any replica (or enrollment on any replica) issued.
 *
 * The store's create-if-absent is the tie-breaker: replicas starting at the
 * same time on a fresh database each propose a CA, exactly one create
 * succeeds, and the others adopt the winner's before they write any file.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { KeyExistsError, type Store } from '../../store/index.ts';
import { readFileIfExists, writeFileAtomic } from '../../util/index.ts';
import { createCertificateAuthority } from './authority.ts';
import { PkiStateError } from './errors.ts';

/** The store key of the shared CA: outside every API group's prefix, so never served. */
export const SHARED_CA_KEY = '/outpost.internal/pki/ca';

/** What the store holds under {@link SHARED_CA_KEY}. */
interface SharedCa {
  readonly certificate: string;
  readonly key: string;
}

export interface ShareCaOptions {
  /** The CA's issuing time when this replica creates it, for tests. @default the current time */
  readonly now?: Date;
}

/**
 * Makes `dataDir/pki/ca.crt` and `ca.key` the store's CA, before
 * `loadOrCreatePki` reads them:
 * - the store has a CA: it is written to the folder (a folder holding a
 *   different CA is refused: its certificates would not be trusted by the
 *   other replicas);
 * - the store has none: the folder's CA (a hub that ran before replicas
 *   existed) or a new one is proposed; if another replica's proposal won
 *   meanwhile, that one is adopted.
 *
 * @throws PkiStateError when the folder's CA is not the store's.
 */
export async function shareCertificateAuthority(
  store: Store,
  dataDir: string,
  options: ShareCaOptions = {},
): Promise<void> {
  const dir = join(dataDir, 'pki');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const certPath = join(dir, 'ca.crt');
  const keyPath = join(dir, 'ca.key');
  const localCert = await readFileIfExists(certPath);
  const localKey = await readFileIfExists(keyPath);

  let shared = await readShared(store);
  if (!shared) {
    if (localCert !== undefined && localKey === undefined) return; // loadOrCreatePki names the missing key
    const proposal: SharedCa =
      localCert !== undefined && localKey !== undefined
        ? { certificate: localCert, key: localKey }
        : await newCa(options.now);
    try {
      await store.create(SHARED_CA_KEY, () => JSON.stringify(proposal));
      shared = proposal;
    } catch (error) {
      if (!(error instanceof KeyExistsError)) throw error;
      // Another replica proposed first: its CA is the one.
      shared = await readShared(store);
      if (!shared) throw new Error('the shared CA vanished right after another replica created it');
    }
  }
  if (localCert !== undefined && localCert.trim() !== shared.certificate.trim()) {
    throw new PkiStateError(
      certPath,
      `${certPath} is not the CA of the hub's store (another replica or an earlier hub created that one); ` +
        `remove ${dir} to use the store's CA, or point the hub at the store this folder belongs to`,
    );
  }
  // The key first, as loadOrCreatePki writes them: a certificate on disk always has its key.
  if (localKey !== shared.key) await writeFileAtomic(keyPath, shared.key, 0o600);
  if (localCert === undefined) await writeFileAtomic(certPath, shared.certificate, 0o644);
}

async function newCa(now: Date | undefined): Promise<SharedCa> {
  const created = await createCertificateAuthority({ now });
  return { certificate: created.ca.certPem, key: created.keyPem };
}

async function readShared(store: Store): Promise<SharedCa | undefined> {
  const stored = await store.get(SHARED_CA_KEY);
  if (!stored) return undefined;
  const value = JSON.parse(stored.value) as Partial<SharedCa>;
  if (typeof value.certificate !== 'string' || typeof value.key !== 'string')
    throw new PkiStateError(SHARED_CA_KEY, `the store's CA record ${SHARED_CA_KEY} is malformed`);
  return { certificate: value.certificate, key: value.key };
}
