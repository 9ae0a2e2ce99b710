/**
 * The namespace controller, as Kubernetes' namespace lifecycle controller:
 * a Namespace being deleted (a `deletionTimestamp`; ObjectService holds one
 * with content by {@link NAMESPACE_CONTENT_FINALIZER}, Terminating) has its
 * content deleted, then the finalizer removed, and so it goes. Keyed by the
 * namespace's name; level-triggered: a namespace still holding content (an
 * object held by a finalizer of its own, a create that raced the deletion) is
 * looked at again a moment later, and a new leader picks up every namespace
 * that a crash or a change of leader left Terminating.
 */
import type { KindDefinition, KubeObject } from '../../api/index.ts';
import {
  type Client,
  type Controller,
  type Informer,
  type Manager,
  type Reconciler,
  statusCodeOf,
} from '../../controller/index.ts';
import { NAMESPACE_CONTENT_FINALIZER, parse } from '../kube-api/index.ts';

/** Who removes the finalizer, in managedFields. */
export const NAMESPACE_CONTROLLER_MANAGER = 'namespace-controller';

export interface NamespaceReconcilerOptions {
  readonly client: Client;
  /** The Namespace informer, whose cache tells which namespaces are being deleted at all. */
  readonly namespaces: Informer;
  /**
   * How long to wait before looking again at a namespace whose content is not all gone.
   * @default 1000
   */
  readonly recheckMs?: number;
}

/**
 * The reconciler. A namespace its cache shows not being deleted is left
 * alone (its deletion is an event that brings the key back); otherwise it
 * reads the Namespace and its content live (the caches of other kinds may lag,
 * and deleting is not to be decided on a stale view), deletes every object not
 * yet being deleted, and removes the finalizer once nothing is left.
 */
export function createNamespaceReconciler(options: NamespaceReconcilerOptions): Reconciler {
  const { client } = options;
  const namespaceKind = client.registry.byKind('v1', 'Namespace');
  if (!namespaceKind) throw new Error('the client must serve v1 Namespace');
  const contentKinds = client.registry.kinds.filter((def) => def.namespaced);
  const recheckMs = options.recheckMs ?? 1000;
  return {
    name: 'namespace',
    async reconcile(name, context) {
      if (!options.namespaces.get(undefined, name)?.metadata.deletionTimestamp) return undefined;
      const stored = await client.find(namespaceKind, undefined, name);
      if (!stored) return undefined;
      const namespace = parse(stored);
      if (!namespace.metadata.deletionTimestamp) return undefined;
      let remaining = 0;
      for (const def of contentKinds) remaining += await deleteContent(client, def, name);
      if (remaining > 0) {
        context.logger.debug({ remaining }, 'namespace content remains');
        return { requeueAfter: recheckMs };
      }
      await finish(client, namespaceKind, namespace);
      context.logger.info('namespace deleted');
      return undefined;
    },
  };
}

/**
 * Deletes the objects of one kind in `namespace` that are not being deleted yet; answers how
 * many objects of the kind are left (held by finalizers, or created meanwhile).
 */
async function deleteContent(client: Client, def: KindDefinition, namespace: string): Promise<number> {
  const { items } = await client.list(def, namespace, {});
  let left = 0;
  for (const item of items) {
    const object = parse(item);
    if (!object.metadata.deletionTimestamp) {
      try {
        const after = parse(
          await client.delete(def, namespace, object.metadata.name!, {
            propagationPolicy: 'Background',
            preconditions: { uid: object.metadata.uid },
          }),
        );
        // Deleted (a tombstone) unless finalizers hold it.
        if (!after.metadata.deletionTimestamp || (after.metadata.finalizers?.length ?? 0) === 0) continue;
      } catch (error) {
        // Gone already, or re-created under the same name meanwhile (looked at on the next pass).
        if (statusCodeOf(error) === 404) continue;
        if (statusCodeOf(error) !== 409) throw error;
      }
    }
    left++;
  }
  return left;
}

/** Removes the namespace's content finalizer (it then goes), or deletes one left Terminating without it. */
async function finish(client: Client, namespaceKind: KindDefinition, namespace: KubeObject): Promise<void> {
  const name = namespace.metadata.name!;
  const finalizers = namespace.metadata.finalizers ?? [];
  try {
    if (finalizers.includes(NAMESPACE_CONTENT_FINALIZER)) {
      const rest = finalizers.filter((finalizer) => finalizer !== NAMESPACE_CONTENT_FINALIZER);
      // Pinned to the revision read: a concurrent change is a 409, retried with backoff.
      await client.patch(
        namespaceKind,
        undefined,
        name,
        'merge',
        {
          metadata: {
            finalizers: rest.length > 0 ? rest : null,
            resourceVersion: namespace.metadata.resourceVersion,
          },
        },
        { fieldManager: NAMESPACE_CONTROLLER_MANAGER },
      );
    } else if (finalizers.length === 0) {
      // Left Terminating by an earlier hub, which held namespaces without a finalizer.
      await client.delete(namespaceKind, undefined, name, {
        preconditions: { uid: namespace.metadata.uid },
      });
    }
  } catch (error) {
    if (statusCodeOf(error) !== 404) throw error;
  }
}

/** Adds the namespace controller to a manager, keyed by the Namespaces its informer sees. */
export function addNamespaceReconciler(
  manager: Manager,
  options: Pick<NamespaceReconcilerOptions, 'recheckMs'> & { readonly workers?: number } = {},
): Controller {
  const client = manager.client;
  const namespaceKind = client.registry.byKind('v1', 'Namespace');
  if (!namespaceKind) throw new Error('the client must serve v1 Namespace');
  const namespaces = manager.informer(namespaceKind);
  const controller = manager.controller({
    reconciler: createNamespaceReconciler({ client, namespaces, recheckMs: options.recheckMs }),
    // Several namespaces drained at once: each mostly waits on its deletes' commits.
    workers: options.workers ?? 4,
  });
  controller.watch(namespaces);
  return controller;
}
