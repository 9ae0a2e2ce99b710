import type { KindDefinition, KubeObject } from '../../../api/index.ts';
import { type Client, type Informer, keyOf } from '../../../controller/index.ts';
import { POD_SECURITY_EXEMPT_RENDERER, type Requester } from '../../admission/index.ts';
import { ApiError } from '../../kube-api/index.ts';
import { controlledBy, updateFor } from './render.ts';

/** The field manager of every write the renderer makes. */
export const OPCUA_FIELD_MANAGER = 'outpost-opcua-renderer';
/**
 * Who the renderer writes as: Pod Security admission exempts it (the pod it renders is fixed
 * and needs host networking to reach the agent's local MQTT endpoint, which `baseline` forbids).
 */
const RENDERER: Requester = { user: POD_SECURITY_EXEMPT_RENDERER, groups: [] };
/** How long a write of ours may take to reach the cache before the cache is trusted again. */
const CACHE_LAG_LIMIT_MS = 5000;

/** A rendered object that cannot be written, and why (for the Rendered condition). */
export interface Blocked {
  readonly reason: string;
  readonly message: string;
}

/**
 * The renderer's own writes, per kind and key, until the cache shows them:
 * a key reconciled again before the watch event of its last write arrived
 * would decide on the older copy, and only conflict. A mark is trusted for
 * 5 s at most (a write whose event never comes must not stop the renderer).
 */
export class OwnWrites {
  readonly #marks = new Map<string, { revision: number; at: number }>();

  /** Marks a write of ours that stored `resourceVersion`. */
  remember(kind: string, key: string, resourceVersion: string | undefined): void {
    this.#marks.set(`${kind}:${key}`, { revision: Number(resourceVersion ?? 0), at: Date.now() });
  }

  /** Whether `cached` is still older than our last write of the object; forgets the mark once it is not. */
  lagging(kind: string, key: string, cached: KubeObject | undefined): boolean {
    const mark = this.#marks.get(`${kind}:${key}`);
    if (!mark) return false;
    if (
      Number(cached?.metadata.resourceVersion ?? 0) >= mark.revision ||
      Date.now() - mark.at > CACHE_LAG_LIMIT_MS
    ) {
      this.#marks.delete(`${kind}:${key}`);
      return false;
    }
    return true;
  }
}

/**
 * Makes the cached object of `desired`'s name hold `desired`: creates it when
 * missing, updates it in place (the cached resourceVersion as precondition)
 * when it differs, and writes nothing when it holds already. Answers
 * undefined once it holds (or was just written), else why not: a name taken
 * by an object the connector (`uid`) does not control is never taken over,
 * one being deleted is waited for (its deletion event queues the connector
 * again), and a write the API refuses as invalid (422: an admission check) is
 * a status, not a retry, because only a change can fix it and a change queues
 * the connector again. Other failures throw (retried with backoff).
 */
export async function ensureOwned(
  service: Client,
  writes: OwnWrites,
  owned: { readonly def: KindDefinition; readonly informer: Informer },
  desired: KubeObject,
  uid: string,
): Promise<Blocked | undefined> {
  try {
    return await write(service, writes, owned, desired, uid);
  } catch (error) {
    if (error instanceof ApiError && error.code === 422) return { reason: 'Refused', message: error.message };
    throw error;
  }
}

async function write(
  service: Client,
  writes: OwnWrites,
  { def, informer }: { readonly def: KindDefinition; readonly informer: Informer },
  desired: KubeObject,
  uid: string,
): Promise<Blocked | undefined> {
  const namespace = desired.metadata.namespace!;
  const name = desired.metadata.name!;
  const live = informer.get(namespace, name);
  const what = `${def.kind} ${namespace}/${name}`;
  if (!live) {
    const stored = await service.create(def, namespace, desired, {
      fieldManager: OPCUA_FIELD_MANAGER,
      requester: RENDERER,
      borrowBody: true,
    });
    writes.remember(def.kind, keyOf(desired), String(stored.revision));
    return undefined;
  }
  if (!controlledBy(live, uid)) {
    return {
      reason: 'Conflict',
      message: `${what} exists and is not controlled by this connector: delete or rename it`,
    };
  }
  if (live.metadata.deletionTimestamp) {
    // Its deletion event queues the connector again: it is then created anew.
    return { reason: 'Terminating', message: `${what} is being deleted` };
  }
  const next = updateFor(live, desired);
  if (!next) return undefined;
  const stored = await service.update(def, namespace, name, next, {
    fieldManager: OPCUA_FIELD_MANAGER,
    requester: RENDERER,
    stored: live,
    borrowBody: true,
  });
  writes.remember(def.kind, keyOf(desired), String(stored.revision));
  return undefined;
}
