/**
 * Authorisation of every request, in the apiserver's order: members of
 * `system:masters` may do anything; a device gets what the device rules
 * allow on its own objects; then RBAC; anything not allowed is a 403
 * `Forbidden` Status worded as the apiserver words it.
 */
import type { FastifyRequest } from 'fastify';
import type { KindDefinition, PolicyRule } from '../../api/index.ts';
import { ApiError, type ObjectService } from '../kube-api/index.ts';
import type { Identity } from './authenticate.ts';
import { type RequestAttributes, requestAttributes, subjectOf } from './authorize-attributes.ts';
import {
  deviceAllows,
  deviceDenialReason,
  deviceNamedBy,
  deviceOf,
  deviceReviewRules,
} from './authorize-device.ts';
import { MASTERS_GROUP } from './rbac-bootstrap.ts';
import type { RbacIndex } from './rbac-index.ts';
import {
  callerKeys,
  type NonResourceRule,
  type ResourceRule,
  reviewRules,
  ruleAllows,
} from './rbac-rules.ts';

/** An authoriser's answer. */
export interface Decision {
  readonly allowed: boolean;
  /** Why, for reviews and for the end of a 403's message. */
  readonly reason: string;
}

/** What a SelfSubjectRulesReview answers. */
export interface RulesReviewStatus {
  readonly resourceRules: ResourceRule[];
  readonly nonResourceRules: NonResourceRule[];
  /**
   * Whether some permission could not be listed as rules. Always false here:
   * RBAC's rules and the device rules are all listed as they are evaluated.
   */
  readonly incomplete: boolean;
  /** What could not be resolved (bindings to roles that do not exist, which grant nothing), as the apiserver reports it. */
  readonly evaluationError?: string;
}

/** Decides requests; the hub's is {@link authorizerOver} its {@link RbacIndex}. */
export interface Authorizer {
  authorize(attributes: RequestAttributes): Decision;
  /** Everything a caller may do in `namespace` ('' for cluster scope only). */
  rulesFor(
    subject: Pick<RequestAttributes, 'user' | 'groups' | 'device'>,
    namespace: string,
  ): RulesReviewStatus;
  /**
   * The rules RBAC alone grants a caller in `namespace` ('' for cluster scope
   * only): what the escalation check compares a new role or binding with.
   * Neither `system:masters` nor the device rules are counted.
   */
  rbacRulesFor(subject: Pick<RequestAttributes, 'user' | 'groups'>, namespace: string): PolicyRule[];
}

const EVERYTHING: PolicyRule[] = [
  { apiGroups: ['*'], resources: ['*'], verbs: ['*'] },
  { nonResourceURLs: ['*'], verbs: ['*'] },
];

/** An authoriser over an RBAC index (the hub's follows the store through informers; tests may build one from objects). */
export function authorizerOver(index: RbacIndex): Authorizer {
  return {
    authorize(attributes) {
      if (attributes.groups.includes(MASTERS_GROUP)) return { allowed: true, reason: '' };
      const device = deviceOf(attributes);
      if (device !== undefined && deviceAllows(device, attributes)) return { allowed: true, reason: '' };
      for (const rules of index.rulesFor(
        callerKeys(attributes.user, attributes.groups),
        attributes.namespace,
      )) {
        if (rules.some((rule) => ruleAllows(attributes, rule)))
          return { allowed: true, reason: 'RBAC: allowed' };
      }
      return { allowed: false, reason: device === undefined ? '' : deviceDenialReason(device, attributes) };
    },
    rulesFor(subject, namespace) {
      const missing: string[] = [];
      const rules = subject.groups.includes(MASTERS_GROUP)
        ? [EVERYTHING]
        : index.rulesFor(callerKeys(subject.user, subject.groups), namespace, missing);
      const review = reviewRules(rules.flat());
      const device = deviceOf(subject);
      if (device !== undefined) {
        const own = deviceReviewRules(device);
        review.resourceRules.unshift(...own.resourceRules);
        review.nonResourceRules.unshift(...own.nonResourceRules);
      }
      // Every rule that allows a request is listed, so the list is complete; a binding to a missing
      // role grants nothing, and is reported the apiserver's way (an evaluation error).
      if (missing.length === 0) return { ...review, incomplete: false };
      const unique = [...new Set(missing)];
      const evaluationError = unique.length === 1 ? unique[0]! : `[${unique.join(', ')}]`;
      return { ...review, incomplete: false, evaluationError };
    },
    rbacRulesFor(subject, namespace) {
      return index.rulesFor(callerKeys(subject.user, subject.groups), namespace).flat();
    },
  };
}

/** Allows everything: a hub built without an authoriser (in-process API tests) behaves as before RBAC. */
export const ALLOW_ALL: Authorizer = {
  authorize: () => ({ allowed: true, reason: '' }),
  rulesFor: () => ({ ...reviewRules(EVERYTHING), incomplete: false }),
  rbacRulesFor: () => [...EVERYTHING],
};

const APPLY_PATCH = 'application/apply-patch+yaml';

/**
 * Authorises an HTTP request of an authenticated caller, throwing a 403
 * Status when refused. A server-side apply that would create its object
 * needs `create` as well as `patch`, as in the apiserver.
 */
export async function authorizeRequest(
  authorizer: Authorizer,
  request: FastifyRequest,
  identity: Identity,
  service: ObjectService,
): Promise<void> {
  const [path = '/'] = request.url.split('?', 1);
  const attributes = requestAttributes(
    identity,
    request.method,
    path,
    request.query as Record<string, unknown>,
  );
  const decision = authorizer.authorize(attributes);
  if (!decision.allowed) throw forbidden(attributes, decision.reason);
  if (attributes.verb !== 'patch' || !isApply(request.headers['content-type'])) return;
  const create = { ...attributes, verb: 'create' };
  if (authorizer.authorize(create).allowed) return;
  const def = service.registry.byResource(attributes.apiGroup, attributes.apiVersion, attributes.resource);
  if (def && !(await exists(service, def, attributes))) throw forbidden(create, '');
}

function isApply(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase() === APPLY_PATCH;
}

async function exists(
  service: ObjectService,
  def: KindDefinition,
  attributes: RequestAttributes,
): Promise<boolean> {
  try {
    await service.get(def, def.namespaced ? attributes.namespace : undefined, attributes.name);
    return true;
  } catch (error) {
    if (error instanceof ApiError && error.code === 404) return false;
    throw error;
  }
}

/**
 * The apiserver's 403: `devices.outpost.dev "x" is forbidden: User "u" cannot
 * get resource "devices" in API group "outpost.dev" at the cluster scope`.
 */
export function forbidden(attributes: RequestAttributes, reason: string): ApiError {
  const user = attributes.user;
  let message: string;
  if (!attributes.resourceRequest) {
    message = `User "${user}" cannot ${attributes.verb} path "${attributes.path}"`;
  } else {
    const resource =
      attributes.subresource === ''
        ? attributes.resource
        : `${attributes.resource}/${attributes.subresource}`;
    const scope =
      attributes.namespace === '' ? 'at the cluster scope' : `in the namespace "${attributes.namespace}"`;
    message = `User "${user}" cannot ${attributes.verb} resource "${resource}" in API group "${attributes.apiGroup}" ${scope}`;
  }
  if (reason !== '') message += `: ${reason}`;
  if (!attributes.resourceRequest) return new ApiError(403, 'Forbidden', `forbidden: ${message}`, {});
  const qualified =
    attributes.apiGroup === '' ? attributes.resource : `${attributes.resource}.${attributes.apiGroup}`;
  const details = {
    ...(attributes.name !== '' ? { name: attributes.name } : {}),
    ...(attributes.apiGroup !== '' ? { group: attributes.apiGroup } : {}),
    kind: attributes.resource,
  };
  const subject = attributes.name === '' ? qualified : `${qualified} "${attributes.name}"`;
  return new ApiError(403, 'Forbidden', `${subject} is forbidden: ${message}`, details);
}

/** The attributes an access review's spec asks about. */
export interface AccessReviewSpec {
  resourceAttributes?: {
    namespace?: string;
    verb?: string;
    group?: string;
    version?: string;
    resource?: string;
    subresource?: string;
    name?: string;
  };
  nonResourceAttributes?: { path?: string; verb?: string };
}

/** For SelfSubjectAccessReview: the attributes of a review's spec, for the caller. */
export function reviewAttributes(identity: Identity, spec: AccessReviewSpec): RequestAttributes {
  return attributesOf(subjectOf(identity), spec);
}

/**
 * For SubjectAccessReview: the attributes of a review's spec for the user and groups it names,
 * exactly as given (the apiserver adds no group, not even `system:authenticated`). A device's user
 * name and group are read as a device, as its certificate would be.
 */
export function subjectReviewAttributes(
  spec: AccessReviewSpec & { user?: string; groups?: readonly string[] },
): RequestAttributes {
  const user = spec.user ?? '';
  const groups = spec.groups ?? [];
  return attributesOf({ user, groups, device: deviceNamedBy(user, groups) }, spec);
}

function attributesOf(
  subject: Pick<RequestAttributes, 'user' | 'groups' | 'device'>,
  spec: AccessReviewSpec,
): RequestAttributes {
  const resource = spec.resourceAttributes;
  if (resource) {
    return {
      ...subject,
      verb: resource.verb ?? '',
      resourceRequest: true,
      path: '',
      apiGroup: resource.group ?? '',
      apiVersion: resource.version ?? '',
      resource: resource.resource ?? '',
      subresource: resource.subresource ?? '',
      namespace: resource.namespace ?? '',
      name: resource.name ?? '',
    };
  }
  const nonResource = spec.nonResourceAttributes ?? {};
  return {
    ...subject,
    verb: nonResource.verb ?? '',
    resourceRequest: false,
    path: nonResource.path ?? '',
    apiGroup: '',
    apiVersion: '',
    resource: '',
    subresource: '',
    namespace: '',
    name: '',
  };
}
