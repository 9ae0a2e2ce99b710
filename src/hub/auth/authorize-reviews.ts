/**
 * The review endpoints: a caller asks whether it may do something
 * (SelfSubjectAccessReview, `kubectl auth can-i`), what it may do in a
 * namespace (SelfSubjectRulesReview, `kubectl auth can-i --list`), who the
 * hub takes it for (SelfSubjectReview, `kubectl auth whoami`), and whether a
 * user or groups it names may do something (SubjectAccessReview; the request
 * itself is authorised as `create` on `subjectaccessreviews`, as every
 * request is, before it gets here). Answered from the same authoriser that
 * guards every request; nothing is stored.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  apiVersionOf,
  type FieldCause,
  type KindDefinition,
  type KubeObject,
  type SelfSubjectAccessReview,
  type SelfSubjectRulesReview,
  type SubjectAccessReview,
  selfSubjectAccessReviewKind,
  selfSubjectReviewKind,
  selfSubjectRulesReviewKind,
  subjectAccessReviewKind,
  validateObject,
} from '../../api/index.ts';
import { decodeObjectBody, errors } from '../kube-api/index.ts';
import type { Identity } from './authenticate.ts';
import { type Authorizer, type Decision, reviewAttributes, subjectReviewAttributes } from './authorize.ts';
import { subjectOf } from './authorize-attributes.ts';

/** Registers `POST` of the four review kinds; other methods on their URLs answer 405. */
export function registerAccessReviews(app: FastifyInstance, authorizer: Authorizer): void {
  route(app, selfSubjectAccessReviewKind, (identity, body) => {
    const spec = (body as SelfSubjectAccessReview).spec;
    return { spec, status: statusOf(authorizer.authorize(reviewAttributes(identity, spec))) };
  });
  route(app, subjectAccessReviewKind, (_identity, body) => {
    const spec = (body as SubjectAccessReview).spec;
    return { spec, status: statusOf(authorizer.authorize(subjectReviewAttributes(spec))) };
  });
  route(app, selfSubjectRulesReviewKind, (identity, body) => {
    const spec = (body as SelfSubjectRulesReview).spec;
    return { spec, status: authorizer.rulesFor(subjectOf(identity), spec.namespace ?? '') };
  });
  route(app, selfSubjectReviewKind, (identity) => {
    const { user, groups } = subjectOf(identity);
    const userInfo = {
      username: user,
      ...(identity.uid !== undefined ? { uid: identity.uid } : {}),
      groups: [...groups],
      ...(identity.extra !== undefined ? { extra: identity.extra } : {}),
    };
    return { status: { userInfo } };
  });
}

type Answer = (identity: Identity, body: KubeObject) => Record<string, unknown>;

function statusOf(decision: Decision): { allowed: boolean; reason?: string } {
  return { allowed: decision.allowed, ...(decision.reason !== '' ? { reason: decision.reason } : {}) };
}

function route(app: FastifyInstance, def: KindDefinition, answer: Answer): void {
  const url = `/apis/${def.group}/${def.version}/${def.plural}`;
  app.route({
    method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
    url,
    handler: async (request: FastifyRequest, reply: FastifyReply) => {
      if (request.method !== 'POST')
        throw errors.methodNotAllowed('the server does not allow this method on the requested resource');
      const body = decodeObjectBody(request);
      check(def, body);
      const identity = request.identity ?? { user: '', groups: [] };
      const answered = {
        apiVersion: apiVersionOf(def),
        kind: def.kind,
        metadata: {},
        ...answer(identity, body),
      };
      return reply.code(201).type('application/json').send(JSON.stringify(answered));
    },
  });
}

/**
 * The apiserver's validation of a review: the schema; for an access review exactly one kind of
 * attributes, and for a SubjectAccessReview a user or groups.
 */
function check(def: KindDefinition, body: KubeObject): void {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw errors.badRequest('the request body must be an object');
  body.metadata ??= {};
  // Reviews are never stored, so they need no name.
  const invalid = validateObject(def, body, undefined).causes.filter(
    (cause) => !(cause.field === 'metadata.name' && cause.reason === 'FieldValueRequired'),
  );
  if (invalid.length > 0) throw errors.invalid(def, body.metadata.name ?? '', invalid);
  if (def !== selfSubjectAccessReviewKind && def !== subjectAccessReviewKind) return;
  const spec = (body as SubjectAccessReview).spec;
  const causes: FieldCause[] = [];
  const given =
    Number(spec.resourceAttributes !== undefined) + Number(spec.nonResourceAttributes !== undefined);
  if (given !== 1)
    causes.push({
      reason: 'FieldValueInvalid',
      field: 'spec.resourceAttributes',
      message: `Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified`,
    });
  // The apiserver's ValidateSubjectAccessReviewSpec: someone must be asked about.
  if (def === subjectAccessReviewKind && !spec.user && (spec.groups ?? []).length === 0)
    causes.push({
      reason: 'FieldValueInvalid',
      field: 'spec.user',
      message: 'Invalid value: "": at least one of user or group must be specified',
    });
  if (causes.length > 0) throw errors.invalid(def, '', causes);
}
