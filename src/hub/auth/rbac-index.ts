/**
 * The RBAC objects in memory, kept current by store watches, indexed so that
 * authorising a request costs a few map lookups: bindings by subject (per
 * namespace for RoleBindings), roles by name. Every replica sharing a store
 * keeps its own index from the same watches, so a binding written through
 * one replica takes effect on all of them as soon as the event arrives.
 */
import {
  clusterRoleBindingKind,
  clusterRoleKind,
  type KindDefinition,
  type KubeObject,
  type PolicyRule,
  type RoleRef,
  roleBindingKind,
  roleKind,
  type Subject,
} from '../../api/index.ts';
import { ExpiredError, type Store, type WatchEvent } from '../../store/index.ts';
import { collectionPrefix } from '../kube-api/index.ts';
import { subjectKey } from './rbac-rules.ts';

/** One binding reduced to what evaluation needs. */
interface Binding {
  readonly namespace: string;
  readonly roleRef: RoleRef;
  readonly subjects: readonly Subject[];
}

interface Collection {
  readonly def: KindDefinition;
  /** Objects by store key, each with the revision it was read at. */
  readonly objects: Map<string, { revision: number; object: KubeObject }>;
}

/** Options of {@link RbacIndex.start}. */
export interface RbacIndexOptions {
  readonly store: Store;
  /** Stops the watches. */
  readonly signal: AbortSignal;
  /** Told when a watch failed and was restarted (relist). @default ignored */
  readonly onError?: (error: unknown) => void;
}

/** How long to wait before relisting after a watch failed. */
const RETRY_MS = 200;

/** RBAC objects in memory, current within a watch event's delay. */
export class RbacIndex {
  readonly #collections: Collection[] = [
    roleKind,
    clusterRoleKind,
    roleBindingKind,
    clusterRoleBindingKind,
  ].map((def) => ({ def, objects: new Map() }));
  #derived: Derived | undefined;

  /** Lists every RBAC object, then keeps the index current until `signal` aborts. */
  static async start(options: RbacIndexOptions): Promise<RbacIndex> {
    const index = new RbacIndex();
    await Promise.all(index.#collections.map((collection) => index.#follow(collection, options)));
    return index;
  }

  /** An index of the given objects, not watching anything (tests and one-off evaluation). */
  static of(objects: readonly KubeObject[]): RbacIndex {
    const index = new RbacIndex();
    for (const object of objects) {
      const collection = index.#collections.find((c) => c.def.kind === object.kind);
      const key = `${object.metadata.namespace ?? ''}/${object.metadata.name}`;
      collection?.objects.set(key, { revision: 0, object });
    }
    return index;
  }

  /**
   * The rules that apply to a caller with these subject keys in `namespace`
   * ('' for cluster scope): those of ClusterRoleBindings, then those of
   * RoleBindings in the namespace. Bindings to missing roles grant nothing;
   * when `missing` is given, what each of them refers to is pushed onto it.
   */
  rulesFor(keys: readonly string[], namespace: string, missing?: string[]): PolicyRule[][] {
    const derived = this.#derive();
    const found: PolicyRule[][] = [];
    const add = (bindings: readonly Binding[] | undefined) => {
      for (const binding of bindings ?? []) {
        const rules = this.#roleRules(derived, binding);
        if (rules) found.push(rules);
        else missing?.push(describeMissing(binding));
      }
    };
    for (const key of keys) add(derived.clusterBindings.get(key));
    if (namespace !== '') {
      const inNamespace = derived.roleBindings.get(namespace);
      if (inNamespace) for (const key of keys) add(inNamespace.get(key));
    }
    return found;
  }

  #roleRules(derived: Derived, binding: Binding): PolicyRule[] | undefined {
    if (binding.roleRef.kind === 'ClusterRole') return derived.clusterRoles.get(binding.roleRef.name);
    return derived.roles.get(`${binding.namespace}/${binding.roleRef.name}`);
  }

  /** Lists one collection and follows it; relists when the watch ends with an error. */
  async #follow(collection: Collection, options: RbacIndexOptions): Promise<void> {
    const prefix = collectionPrefix(collection.def, undefined);
    const relist = async (): Promise<number> => {
      const { items, revision } = await options.store.list({ prefix });
      collection.objects.clear();
      for (const item of items)
        collection.objects.set(item.key, { revision: item.revision, object: JSON.parse(item.value) });
      this.#derived = undefined;
      return revision;
    };
    const watchFrom = async (revision: number): Promise<void> => {
      const watch = await options.store.watch(
        { prefix, afterRevision: revision, signal: options.signal },
        (events) => this.#apply(collection, events),
      );
      watch.done.then(
        () => {},
        (error: unknown) => {
          if (options.signal.aborted) return;
          options.onError?.(error);
          setTimeout(() => restart(), RETRY_MS).unref();
        },
      );
    };
    const restart = () => {
      if (options.signal.aborted) return;
      relist()
        .then(watchFrom)
        .catch((error: unknown) => {
          if (options.signal.aborted) return;
          options.onError?.(error);
          setTimeout(() => restart(), error instanceof ExpiredError ? 0 : RETRY_MS).unref();
        });
    };
    await watchFrom(await relist());
  }

  #apply(collection: Collection, events: readonly WatchEvent[]): void {
    for (const event of events) {
      if (event.type === 'DELETED') collection.objects.delete(event.key);
      else collection.objects.set(event.key, { revision: event.revision, object: JSON.parse(event.value) });
    }
    this.#derived = undefined;
  }

  /** Rebuilds the lookup maps after a change; requests in between reuse them. */
  #derive(): Derived {
    if (this.#derived) return this.#derived;
    const [roles, clusterRoles, roleBindings, clusterRoleBindings] = this.#collections.map((c) => [
      ...c.objects.values(),
    ]) as [Entry[], Entry[], Entry[], Entry[]];
    const derived: Derived = {
      roles: new Map(
        roles.map(({ object }) => [`${object.metadata.namespace}/${object.metadata.name}`, rulesOf(object)]),
      ),
      clusterRoles: new Map(clusterRoles.map(({ object }) => [object.metadata.name!, rulesOf(object)])),
      roleBindings: new Map(),
      clusterBindings: new Map(),
    };
    for (const { object } of clusterRoleBindings) {
      const binding = bindingOf(object, '');
      for (const subject of binding.subjects) push(derived.clusterBindings, subjectKey(subject, ''), binding);
    }
    for (const { object } of roleBindings) {
      const namespace = object.metadata.namespace ?? '';
      const binding = bindingOf(object, namespace);
      let bySubject = derived.roleBindings.get(namespace);
      if (!bySubject) {
        bySubject = new Map();
        derived.roleBindings.set(namespace, bySubject);
      }
      for (const subject of binding.subjects) push(bySubject, subjectKey(subject, namespace), binding);
    }
    this.#derived = derived;
    return derived;
  }
}

type Entry = { revision: number; object: KubeObject };

interface Derived {
  /** `NAMESPACE/NAME` to rules. */
  readonly roles: Map<string, PolicyRule[]>;
  readonly clusterRoles: Map<string, PolicyRule[]>;
  /** Namespace, then subject key, to bindings. */
  readonly roleBindings: Map<string, Map<string, Binding[]>>;
  readonly clusterBindings: Map<string, Binding[]>;
}

function rulesOf(object: KubeObject): PolicyRule[] {
  return (object.rules as PolicyRule[] | undefined) ?? [];
}

/** As the apiserver's role getters word a missing role: `clusterroles.rbac.authorization.k8s.io "x" not found`. */
function describeMissing(binding: Binding): string {
  const resource = binding.roleRef.kind === 'ClusterRole' ? 'clusterroles' : 'roles';
  return `${resource}.rbac.authorization.k8s.io "${binding.roleRef.name}" not found`;
}

function bindingOf(object: KubeObject, namespace: string): Binding {
  return {
    namespace,
    roleRef: object.roleRef as RoleRef,
    subjects: (object.subjects as Subject[] | undefined) ?? [],
  };
}

function push<V>(map: Map<string, V[]>, key: string, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
