/**
 * The RBAC objects in memory, kept current by informers, indexed so that
 * authorising a request costs a few map lookups: bindings by subject (per
 * namespace for RoleBindings), roles by name. Every replica sharing a store
 * keeps its own index from the same watches, so a binding written through
 * one replica takes effect on all of them as soon as the event arrives.
 */
import type { Logger } from 'pino';
import {
  clusterRoleBindingKind,
  clusterRoleKind,
  type KubeObject,
  type PolicyRule,
  type RoleRef,
  roleBindingKind,
  roleKind,
  type Subject,
} from '../../api/index.ts';
import { type Client, Informer } from '../../controller/index.ts';
import { subjectKey } from './rbac-rules.ts';

/** One binding reduced to what evaluation needs. */
interface Binding {
  readonly namespace: string;
  readonly roleRef: RoleRef;
  readonly subjects: readonly Subject[];
}

/** Options of {@link RbacIndex.start}. */
export interface RbacIndexOptions {
  /** Stops the informers. */
  readonly signal: AbortSignal;
  /** Where the informers report a watch that ended or a list that failed. @default silent */
  readonly logger?: Logger;
}

/** Roles, ClusterRoles, RoleBindings and ClusterRoleBindings: what the index holds, in this order. */
const RBAC_KINDS = [roleKind, clusterRoleKind, roleBindingKind, clusterRoleBindingKind];

/** RBAC objects in memory, current within a watch event's delay. */
export class RbacIndex {
  /** Each kind's objects, in {@link RBAC_KINDS}' order. */
  #sources: ReadonlyArray<() => readonly KubeObject[]> = RBAC_KINDS.map(() => () => []);
  #derived: Derived | undefined;

  /** An index of the given objects, not watching anything (tests and one-off evaluation). */
  static of(objects: readonly KubeObject[]): RbacIndex {
    const index = new RbacIndex();
    index.#sources = RBAC_KINDS.map((def) => {
      const ofKind = objects.filter((object) => object.kind === def.kind);
      return () => ofKind;
    });
    return index;
  }

  /**
   * Starts an informer per RBAC kind, which lists and follows its objects
   * until `signal` aborts; resolves once every one has listed (or `signal`
   * aborted first). Empty, granting nothing, until then.
   */
  async start(client: Client, options: RbacIndexOptions): Promise<void> {
    const logger = options.logger?.child({ component: 'rbac-index' });
    const informers = RBAC_KINDS.map((kind) => new Informer({ client, kind, logger }));
    // Any change rebuilds the lookup maps on the next request that needs them.
    const changed = () => {
      this.#derived = undefined;
    };
    for (const informer of informers) {
      informer.addEventHandler({ onAdd: changed, onUpdate: changed, onDelete: changed });
      informer.start(options.signal).catch((err: unknown) => {
        logger?.error({ err }, 'RBAC informer stopped');
      });
    }
    this.#sources = informers.map((informer) => () => informer.list());
    this.#derived = undefined;
    await Promise.all(informers.map((informer) => informer.waitForSync(options.signal)));
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

  /** Rebuilds the lookup maps after a change; requests in between reuse them. */
  #derive(): Derived {
    if (this.#derived) return this.#derived;
    const [roles, clusterRoles, roleBindings, clusterRoleBindings] = this.#sources.map((objects) =>
      objects(),
    ) as [KubeObject[], KubeObject[], KubeObject[], KubeObject[]];
    const derived: Derived = {
      roles: new Map(
        roles.map((object) => [`${object.metadata.namespace}/${object.metadata.name}`, rulesOf(object)]),
      ),
      clusterRoles: new Map(clusterRoles.map((object) => [object.metadata.name!, rulesOf(object)])),
      roleBindings: new Map(),
      clusterBindings: new Map(),
    };
    for (const object of clusterRoleBindings) {
      const binding = bindingOf(object, '');
      for (const subject of binding.subjects) push(derived.clusterBindings, subjectKey(subject, ''), binding);
    }
    for (const object of roleBindings) {
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
