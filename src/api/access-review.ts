/**
 * The review kinds a client creates to ask about access, never stored:
 * SelfSubjectAccessReview and SelfSubjectRulesReview (`authorization.k8s.io/v1`,
 * behind `kubectl auth can-i [--list]`), SelfSubjectReview
 * (`authentication.k8s.io/v1`, behind `kubectl auth whoami`), and
 * SubjectAccessReview, which asks about any user or groups (for those allowed
 * to create it, as webhooks and proxies do). They serve `create` only; the hub
 * answers with `status` filled in.
 */
import Type from 'typebox';
import type { KindDefinition } from './kind.ts';
import { objectSchema } from './meta.ts';

export const AUTHORIZATION_GROUP = 'authorization.k8s.io';
export const AUTHENTICATION_GROUP = 'authentication.k8s.io';

const text = (description: string) => Type.Optional(Type.String({ description }));
const strings = (description: string) => Type.Optional(Type.Array(Type.String(), { description }));

export const ResourceAttributesSchema = Type.Object(
  {
    namespace: text('The namespace of the request; empty for cluster-scoped resources or all namespaces.'),
    verb: text('get, list, watch, create, update, patch, delete, deletecollection, or *.'),
    group: text('The API group; empty for the core group.'),
    version: text('The API version.'),
    resource: text('The resource (plural), or *.'),
    subresource: text('The subresource, e.g. status.'),
    name: text('The object name; empty means any.'),
  },
  { description: 'A request on a resource.' },
);
export type ResourceAttributes = Type.Static<typeof ResourceAttributesSchema>;

export const NonResourceAttributesSchema = Type.Object(
  { path: text('The URL path.'), verb: text('The lower-case HTTP verb.') },
  { description: 'A request on a non-resource URL.' },
);
export type NonResourceAttributes = Type.Static<typeof NonResourceAttributesSchema>;

export const AccessReviewStatusSchema = Type.Object(
  {
    allowed: Type.Boolean({ description: 'Whether the request would be allowed.' }),
    denied: Type.Optional(Type.Boolean()),
    reason: text('Why, when known.'),
    evaluationError: text('What went wrong evaluating, when something did.'),
  },
  { description: 'The answer.' },
);

export const SelfSubjectAccessReviewSchema = objectSchema(
  `${AUTHORIZATION_GROUP}/v1`,
  'SelfSubjectAccessReview',
  'Asks whether the caller may perform an action.',
  {
    spec: Type.Object(
      {
        resourceAttributes: Type.Optional(ResourceAttributesSchema),
        nonResourceAttributes: Type.Optional(NonResourceAttributesSchema),
      },
      { description: 'Exactly one of resourceAttributes and nonResourceAttributes.' },
    ),
    status: Type.Optional(AccessReviewStatusSchema),
  },
);
export type SelfSubjectAccessReview = Type.Static<typeof SelfSubjectAccessReviewSchema>;

export const SubjectAccessReviewSchema = objectSchema(
  `${AUTHORIZATION_GROUP}/v1`,
  'SubjectAccessReview',
  'Asks whether a user or groups may perform an action.',
  {
    spec: Type.Object(
      {
        resourceAttributes: Type.Optional(ResourceAttributesSchema),
        nonResourceAttributes: Type.Optional(NonResourceAttributesSchema),
        user: text('The user to ask about.'),
        groups: strings('The groups to ask about (nothing is added: not even system:authenticated).'),
        uid: text("The user's unique id."),
        extra: Type.Optional(
          Type.Record(Type.String(), Type.Array(Type.String()), {
            description: 'Extra attributes of the user, as the authenticator gave them.',
          }),
        ),
      },
      {
        description:
          'Exactly one of resourceAttributes and nonResourceAttributes; at least one of user and groups.',
      },
    ),
    status: Type.Optional(AccessReviewStatusSchema),
  },
);
export type SubjectAccessReview = Type.Static<typeof SubjectAccessReviewSchema>;

export const ResourceRuleSchema = Type.Object({
  verbs: Type.Array(Type.String()),
  apiGroups: strings('API groups.'),
  resources: strings('Resources.'),
  resourceNames: strings('Names.'),
});
export const NonResourceRuleSchema = Type.Object({
  verbs: Type.Array(Type.String()),
  nonResourceURLs: strings('Paths.'),
});

export const SelfSubjectRulesReviewSchema = objectSchema(
  `${AUTHORIZATION_GROUP}/v1`,
  'SelfSubjectRulesReview',
  'Lists what the caller may do in a namespace.',
  {
    spec: Type.Object({ namespace: text('The namespace to evaluate rules in.') }),
    status: Type.Optional(
      Type.Object({
        resourceRules: Type.Array(ResourceRuleSchema),
        nonResourceRules: Type.Array(NonResourceRuleSchema),
        incomplete: Type.Boolean(),
        evaluationError: text('What could not be evaluated.'),
      }),
    ),
  },
);
export type SelfSubjectRulesReview = Type.Static<typeof SelfSubjectRulesReviewSchema>;

export const UserInfoSchema = Type.Object({
  username: text('The user name.'),
  uid: text('A unique id, when the authenticator gives one.'),
  groups: strings('The groups.'),
  extra: Type.Optional(
    Type.Record(Type.String(), Type.Array(Type.String()), { description: 'Extra attributes of the user.' }),
  ),
});

export const SelfSubjectReviewSchema = objectSchema(
  `${AUTHENTICATION_GROUP}/v1`,
  'SelfSubjectReview',
  'Tells the caller who the hub takes it for.',
  { status: Type.Optional(Type.Object({ userInfo: Type.Optional(UserInfoSchema) })) },
);
export type SelfSubjectReview = Type.Static<typeof SelfSubjectReviewSchema>;

const review = {
  version: 'v1',
  namespaced: false,
  statusSubresource: false,
  strategicMergePatch: false,
  printerColumns: [],
  verbs: ['create'],
} as const;

export const selfSubjectAccessReviewKind: KindDefinition = {
  ...review,
  group: AUTHORIZATION_GROUP,
  kind: 'SelfSubjectAccessReview',
  plural: 'selfsubjectaccessreviews',
  singular: 'selfsubjectaccessreview',
  schema: SelfSubjectAccessReviewSchema,
  description: 'Asks whether the caller may perform an action (kubectl auth can-i).',
};

export const selfSubjectRulesReviewKind: KindDefinition = {
  ...review,
  group: AUTHORIZATION_GROUP,
  kind: 'SelfSubjectRulesReview',
  plural: 'selfsubjectrulesreviews',
  singular: 'selfsubjectrulesreview',
  schema: SelfSubjectRulesReviewSchema,
  description: 'Lists what the caller may do in a namespace (kubectl auth can-i --list).',
};

export const selfSubjectReviewKind: KindDefinition = {
  ...review,
  group: AUTHENTICATION_GROUP,
  kind: 'SelfSubjectReview',
  plural: 'selfsubjectreviews',
  singular: 'selfsubjectreview',
  schema: SelfSubjectReviewSchema,
  description: 'Tells the caller who the hub takes it for (kubectl auth whoami).',
};

export const subjectAccessReviewKind: KindDefinition = {
  ...review,
  group: AUTHORIZATION_GROUP,
  kind: 'SubjectAccessReview',
  plural: 'subjectaccessreviews',
  singular: 'subjectaccessreview',
  schema: SubjectAccessReviewSchema,
  description: 'Asks whether a user or groups may perform an action (for RBAC-checked callers).',
};

/** The review kinds: served for `create` only, answered, never stored. */
export const REVIEW_KINDS: readonly KindDefinition[] = [
  selfSubjectAccessReviewKind,
  subjectAccessReviewKind,
  selfSubjectRulesReviewKind,
  selfSubjectReviewKind,
];
