/**
 * Privilege-escalation prevention for writes of RBAC objects, as the
 * apiserver's RBAC registries do it: a client may write a Role or ClusterRole
 * only if it already holds every permission the role grants (in the role's
 * scope), or holds `escalate` on it; it may write a RoleBinding or
 * ClusterRoleBinding only if it holds every permission of the role it refers
 * to (in the binding's scope), or holds `bind` on that role. Setting or
 * changing an aggregationRule takes every permission (it can gather
 * anything). Members of `system:masters` and the hub's own writers (no
 * requester) are exempt. Refusals are the apiserver's 403.
 */
import { isDeepStrictEqual } from 'node:util';
import {
  clusterRoleBindingKind,
  clusterRoleKind,
  type KindDefinition,
  type KubeObject,
  type PolicyRule,
  RBAC_GROUP,
  type RoleRef,
  roleBindingKind,
  roleKind,
} from '../../api/index.ts';
import type { Store } from '../../store/index.ts';
import type { AdmissionCheck, AdmissionRequest, AdmissionResult } from '../admission/index.ts';
import { ApiError, errors, objectKey } from '../kube-api/index.ts';
import type { Authorizer } from './authorize.ts';
import { type RequestAttributes, subjectOf } from './authorize-attributes.ts';
import { MASTERS_GROUP } from './rbac-bootstrap.ts';
import { covers, escalationMessage, FULL_AUTHORITY } from './rbac-escalation.ts';

/** Options of {@link createRbacEscalationAdmission}. */
export interface RbacEscalationAdmissionOptions {
  /** Decides `escalate` and `bind`, and tells which rules a client holds. */
  readonly authorizer: Authorizer;
  /**
   * Where a binding's role is read: from the store itself, so that a role
   * created just before its binding is found (the caller's own rules come
   * from the authoriser, current within a watch event's delay).
   */
  readonly store: Store;
}

const ALLOWED: AdmissionResult = { causes: [] };
const ROLE_KINDS = new Set([roleKind.kind, clusterRoleKind.kind]);
const BINDING_KINDS = new Set([roleBindingKind.kind, clusterRoleBindingKind.kind]);

type Subject = Pick<RequestAttributes, 'user' | 'groups' | 'device'>;

/** The admission check refusing RBAC writes that would grant more than the client holds. */
export function createRbacEscalationAdmission(options: RbacEscalationAdmissionOptions): AdmissionCheck {
  const { authorizer, store } = options;
  return {
    name: 'RBACEscalation',
    handles: (def) => def.group === RBAC_GROUP && (ROLE_KINDS.has(def.kind) || BINDING_KINDS.has(def.kind)),
    async admit(request) {
      if (!request.requester) return ALLOWED;
      const subject = subjectOf(request.requester);
      if (subject.groups.includes(MASTERS_GROUP)) return ALLOWED;
      if (onlyGarbageCollectionFields(request.object, request.old)) return ALLOWED;
      if (ROLE_KINDS.has(request.def.kind)) admitRole(authorizer, subject, request);
      else await admitBinding(authorizer, store, subject, request);
      return ALLOWED;
    },
  };
}

function admitRole(authorizer: Authorizer, subject: Subject, request: AdmissionRequest): void {
  const { def, object, old } = request;
  const namespace = scopeOf(def, object);
  const name = object.metadata.name ?? '';
  const escalate = attributes(subject, 'escalate', def.plural, namespace, name);
  if (authorizer.authorize(escalate).allowed) return;
  const held = authorizer.rbacRulesFor(subject, namespace);
  const { covered, missing } = covers(held, rulesOf(object));
  if (!covered) throw forbidden(def, name, escalationMessage(subject.user, subject.groups, missing));
  // An aggregationRule can gather any rule, and keeps rules from being tightened: it takes everything.
  if ((hasAggregationRule(object) || hasAggregationRule(old)) && !covers(held, FULL_AUTHORITY).covered)
    throw forbidden(def, name, 'must have cluster-admin privileges to use the aggregationRule');
}

async function admitBinding(
  authorizer: Authorizer,
  store: Store,
  subject: Subject,
  request: AdmissionRequest,
): Promise<void> {
  const { def, object } = request;
  const namespace = scopeOf(def, object);
  const roleRef = object.roleRef as RoleRef;
  const roleDef = roleRef.kind === 'Role' ? roleKind : clusterRoleKind;
  // `bind` is asked in the binding's namespace: it may be granted for one role, by name, in one namespace.
  const bind = attributes(subject, 'bind', roleDef.plural, namespace, roleRef.name, roleRef.apiGroup);
  if (authorizer.authorize(bind).allowed) return;
  const stored = await store.get(
    objectKey(roleDef, roleDef.namespaced ? namespace : undefined, roleRef.name),
  );
  if (!stored) throw errors.notFound(roleDef, roleRef.name);
  const rules = rulesOf(JSON.parse(stored.value) as KubeObject);
  const { covered, missing } = covers(authorizer.rbacRulesFor(subject, namespace), rules);
  if (!covered)
    throw forbidden(
      def,
      object.metadata.name ?? '',
      escalationMessage(subject.user, subject.groups, missing),
    );
}

/** The namespace a role or binding grants in: its own, or '' for the cluster-scoped kinds. */
function scopeOf(def: KindDefinition, object: KubeObject): string {
  return def.namespaced ? (object.metadata.namespace ?? '') : '';
}

function attributes(
  subject: Subject,
  verb: string,
  resource: string,
  namespace: string,
  name: string,
  apiGroup = RBAC_GROUP,
): RequestAttributes {
  return {
    ...subject,
    verb,
    resourceRequest: true,
    path: '',
    apiGroup,
    apiVersion: '*',
    resource,
    subresource: '',
    namespace,
    name,
  };
}

function rulesOf(object: KubeObject): PolicyRule[] {
  return (object.rules as PolicyRule[] | undefined) ?? [];
}

function hasAggregationRule(object: KubeObject | undefined): boolean {
  const rule = object?.aggregationRule as { clusterRoleSelectors?: unknown[] } | undefined;
  return (rule?.clusterRoleSelectors ?? []).length > 0;
}

/** Metadata a write may change without being checked: what the garbage collector and the server maintain. */
const UNCHECKED_METADATA = [
  'ownerReferences',
  'finalizers',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'managedFields',
  'resourceVersion',
  'generation',
] as const;

/**
 * Whether an update changes nothing but the fields needed to delete the
 * object (owner references, finalizers): the apiserver lets those through
 * unchecked, so that an object can always be cleaned up. A write that changes
 * nothing at all passes too.
 */
function onlyGarbageCollectionFields(object: KubeObject, old: KubeObject | undefined): boolean {
  if (!old) return false;
  const strip = (o: KubeObject) => {
    const metadata: Record<string, unknown> = { ...o.metadata };
    for (const field of UNCHECKED_METADATA) delete metadata[field];
    return { ...o, metadata };
  };
  return isDeepStrictEqual(strip(object), strip(old));
}

/** The apiserver's NewForbidden: `roles.rbac.authorization.k8s.io "x" is forbidden: REASON`. */
function forbidden(def: KindDefinition, name: string, reason: string): ApiError {
  return new ApiError(403, 'Forbidden', `${def.plural}.${def.group} "${name}" is forbidden: ${reason}`, {
    name,
    group: def.group,
    kind: def.plural,
  });
}
