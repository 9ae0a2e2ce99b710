import { join } from 'node:path';
import { buildHub } from '../src/hub/index.ts';
import { ApiError } from '../src/hub/kube-api/index.ts';
import { SqliteStore } from '../src/store/index.ts';
import { benchConfigMap } from './support/index.ts';

/**
 * Fills a hub data dir (before the hub starts on it) with `count` ConfigMaps
 * in `default`, written through the hub's own API semantics in-process
 * (defaulting, managedFields, validation) so they are exactly what POSTs
 * would have stored, only faster than over HTTPS.
 */
export async function populateConfigMaps(dataDir: string, count: number): Promise<void> {
  const store = new SqliteStore({ path: join(dataDir, 'outpost.db'), synchronous: 'FULL' });
  try {
    const { service } = buildHub({
      store,
      authenticate: () => ({ user: 'admin', groups: ['system:masters'] }),
      version: 'bench',
    });
    const namespaceKind = service.registry.byKind('v1', 'Namespace')!;
    const configMapKind = service.registry.byKind('v1', 'ConfigMap')!;
    try {
      await service.create(
        namespaceKind,
        undefined,
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } },
        {
          fieldManager: 'outpost-hub',
        },
      );
    } catch (error) {
      if (!(error instanceof ApiError && error.reason === 'AlreadyExists')) throw error;
    }
    // Many creates in flight at once, so that group commit batches them.
    const batch = 500;
    for (let first = 0; first < count; first += batch) {
      const creates: Promise<unknown>[] = [];
      for (let i = first; i < Math.min(count, first + batch); i++) {
        const name = `cm-${String(i).padStart(5, '0')}`;
        creates.push(
          service.create(configMapKind, 'default', benchConfigMap(name, i), {
            fieldManager: 'kubectl-create',
          }),
        );
      }
      await Promise.all(creates);
    }
  } finally {
    await store.close();
  }
}
