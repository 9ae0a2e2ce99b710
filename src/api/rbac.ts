/**
 * Kubernetes RBAC (`rbac.authorization.k8s.io/v1`): Role, ClusterRole,
 * RoleBinding and ClusterRoleBinding with the apiserver's fields and
 * validation, so that `kubectl create role|rolebinding ...` and manifests
 * written for Kubernetes work unchanged.
 */
import Type from 'typebox';
import type { FieldCause, KindDefinition, KubeObject } from './kind.ts';
import { ageColumn, LabelSelector, objectSchema } from './meta.ts';

/** The API group of the RBAC kinds. */
export const RBAC_GROUP = 'rbac.authorization.k8s.io';

/** As upstream: every RBAC list is `+listType=atomic` (replaced whole by patches, owned whole by appliers). */
const ATOMIC_LIST = { 'x-kubernetes-list-type': 'atomic' } as const;
const strings = (description: string) =>
  Type.Optional(Type.Array(Type.String(), { description, ...ATOMIC_LIST }));

export const PolicyRuleSchema = Type.Object(
  {
    verbs: Type.Array(Type.String(), {
      description:
        "Verbs the rule allows (get, list, watch, create, update, patch, delete, deletecollection, '*').",
      ...ATOMIC_LIST,
    }),
    apiGroups: strings("API groups of the resources ('' for the core group, '*' for all)."),
    resources: strings("Resources the rule applies to: 'devices', 'devices/status', '*/status' or '*'."),
    resourceNames: strings('Names the rule is restricted to; empty means every name.'),
    nonResourceURLs: strings("Paths such as '/healthz' or '/apis/*' (ClusterRoles bound cluster-wide only)."),
  },
  { description: 'What a role allows: verbs on resources, or on non-resource URLs.' },
);
export type PolicyRule = Type.Static<typeof PolicyRuleSchema>;

const Rules = Type.Optional(
  Type.Array(PolicyRuleSchema, { description: 'What the role allows.', ...ATOMIC_LIST }),
);

export const SubjectSchema = Type.Object(
  {
    kind: Type.String({ description: 'User, Group or ServiceAccount.' }),
    apiGroup: Type.Optional(
      Type.String({ description: `'${RBAC_GROUP}' for User and Group, '' for ServiceAccount.` }),
    ),
    name: Type.String({ description: 'The user, group or service account name.' }),
    namespace: Type.Optional(Type.String({ description: 'The namespace of a ServiceAccount.' })),
  },
  // `+structType=atomic` upstream: a subject is one value.
  { description: 'Who a binding grants its role to.', 'x-kubernetes-map-type': 'atomic' },
);
export type Subject = Type.Static<typeof SubjectSchema>;

export const RoleRefSchema = Type.Object(
  {
    apiGroup: Type.String({ description: `Always '${RBAC_GROUP}'.` }),
    kind: Type.String({ description: 'Role or ClusterRole.' }),
    name: Type.String({ description: 'The name of the role.' }),
  },
  {
    description: 'The role a binding grants; it cannot be changed once set.',
    'x-kubernetes-map-type': 'atomic',
  },
);
export type RoleRef = Type.Static<typeof RoleRefSchema>;

export const RoleSchema = objectSchema(`${RBAC_GROUP}/v1`, 'Role', 'Permissions within one namespace.', {
  rules: Rules,
});
export type Role = Type.Static<typeof RoleSchema>;

export const ClusterRoleSchema = objectSchema(
  `${RBAC_GROUP}/v1`,
  'ClusterRole',
  'Permissions across the cluster, or within a namespace when bound there by a RoleBinding.',
  {
    rules: Rules,
    aggregationRule: Type.Optional(
      Type.Object(
        { clusterRoleSelectors: Type.Optional(Type.Array(LabelSelector, ATOMIC_LIST)) },
        {
          description:
            "How the rules are built: from every other ClusterRole the selectors match (the hub's aggregation controller writes them; direct changes to rules are overwritten).",
        },
      ),
    ),
  },
);
export type ClusterRole = Type.Static<typeof ClusterRoleSchema>;

const bindingFields = {
  subjects: Type.Optional(
    Type.Array(SubjectSchema, { description: 'Who the role is granted to.', ...ATOMIC_LIST }),
  ),
  roleRef: RoleRefSchema,
};

export const RoleBindingSchema = objectSchema(
  `${RBAC_GROUP}/v1`,
  'RoleBinding',
  'Grants a Role or ClusterRole to subjects within one namespace.',
  bindingFields,
);
export type RoleBinding = Type.Static<typeof RoleBindingSchema>;

export const ClusterRoleBindingSchema = objectSchema(
  `${RBAC_GROUP}/v1`,
  'ClusterRoleBinding',
  'Grants a ClusterRole to subjects across the cluster.',
  bindingFields,
);
export type ClusterRoleBinding = Type.Static<typeof ClusterRoleBindingSchema>;

/** The apiserver's ValidatePolicyRule: verbs required; resources or URLs, not both; URLs not in Roles. */
function validateRules(namespaced: boolean) {
  return (object: KubeObject): FieldCause[] => {
    const causes: FieldCause[] = [];
    const rules = (object.rules as PolicyRule[] | undefined) ?? [];
    rules.forEach((rule, index) => {
      const at = `rules[${index}]`;
      if (rule.verbs.length === 0)
        causes.push({
          reason: 'FieldValueRequired',
          field: `${at}.verbs`,
          message: 'Required value: verbs must contain at least one value',
        });
      if ((rule.nonResourceURLs ?? []).length > 0) {
        if (namespaced)
          causes.push({
            reason: 'FieldValueInvalid',
            field: `${at}.nonResourceURLs`,
            message: 'Invalid value: namespaced rules cannot apply to non-resource URLs',
          });
        if (
          (rule.apiGroups ?? []).length + (rule.resources ?? []).length + (rule.resourceNames ?? []).length >
          0
        )
          causes.push({
            reason: 'FieldValueInvalid',
            field: `${at}.nonResourceURLs`,
            message: 'Invalid value: rules cannot apply to both regular resources and non-resource URLs',
          });
        return;
      }
      if ((rule.apiGroups ?? []).length === 0)
        causes.push({
          reason: 'FieldValueRequired',
          field: `${at}.apiGroups`,
          message: 'Required value: resource rules must supply at least one api group',
        });
      if ((rule.resources ?? []).length === 0)
        causes.push({
          reason: 'FieldValueRequired',
          field: `${at}.resources`,
          message: 'Required value: resource rules must supply at least one resource',
        });
    });
    return causes;
  };
}

/** The apiserver's binding validation: a valid roleRef that never changes, well-formed subjects. */
function validateBinding(namespaced: boolean) {
  return (object: KubeObject, old: KubeObject | undefined): FieldCause[] => {
    const causes: FieldCause[] = [];
    const roleRef = object.roleRef as RoleRef;
    const kinds = namespaced ? ['Role', 'ClusterRole'] : ['ClusterRole'];
    if (roleRef.apiGroup !== RBAC_GROUP)
      causes.push({
        reason: 'FieldValueNotSupported',
        field: 'roleRef.apiGroup',
        message: `Unsupported value: "${roleRef.apiGroup}": supported values: "${RBAC_GROUP}"`,
      });
    if (!kinds.includes(roleRef.kind))
      causes.push({
        reason: 'FieldValueNotSupported',
        field: 'roleRef.kind',
        message: `Unsupported value: "${roleRef.kind}": supported values: ${kinds.map((k) => `"${k}"`).join(', ')}`,
      });
    if (roleRef.name === '')
      causes.push({ reason: 'FieldValueRequired', field: 'roleRef.name', message: 'Required value' });
    const oldRef = old?.roleRef as RoleRef | undefined;
    if (oldRef && JSON.stringify(oldRef) !== JSON.stringify(roleRef))
      causes.push({
        reason: 'FieldValueInvalid',
        field: 'roleRef',
        message: 'Invalid value: cannot change roleRef',
      });
    const subjects = (object.subjects as Subject[] | undefined) ?? [];
    subjects.forEach((subject, index) => {
      causes.push(...validateSubject(subject, `subjects[${index}]`, namespaced));
    });
    return causes;
  };
}

function validateSubject(subject: Subject, at: string, namespaced: boolean): FieldCause[] {
  if (subject.name === '')
    return [{ reason: 'FieldValueRequired', field: `${at}.name`, message: 'Required value' }];
  switch (subject.kind) {
    case 'User':
    case 'Group':
      return subject.apiGroup === RBAC_GROUP
        ? []
        : [
            {
              reason: 'FieldValueNotSupported',
              field: `${at}.apiGroup`,
              message: `Unsupported value: "${subject.apiGroup ?? ''}": supported values: "${RBAC_GROUP}"`,
            },
          ];
    case 'ServiceAccount':
      if ((subject.apiGroup ?? '') !== '')
        return [
          {
            reason: 'FieldValueNotSupported',
            field: `${at}.apiGroup`,
            message: `Unsupported value: "${subject.apiGroup}": supported values: ""`,
          },
        ];
      return !namespaced && !subject.namespace
        ? [{ reason: 'FieldValueRequired', field: `${at}.namespace`, message: 'Required value' }]
        : [];
    default:
      return [
        {
          reason: 'FieldValueNotSupported',
          field: `${at}.kind`,
          message: `Unsupported value: "${subject.kind}": supported values: "ServiceAccount", "User", "Group"`,
        },
      ];
  }
}

/** Defaults the apiGroup of User and Group subjects, as the apiserver's defaulting does. */
function defaultSubjects(object: KubeObject): void {
  for (const subject of (object.subjects as Subject[] | undefined) ?? []) {
    if (subject.apiGroup === undefined && (subject.kind === 'User' || subject.kind === 'Group'))
      subject.apiGroup = RBAC_GROUP;
  }
}

const common = {
  group: RBAC_GROUP,
  version: 'v1',
  statusSubresource: false,
  strategicMergePatch: true,
  // Role names such as `system:discovery` and `outpost:workload-team` hold colons.
  nameRule: 'path-segment',
} as const;

export const roleKind: KindDefinition = {
  ...common,
  kind: 'Role',
  plural: 'roles',
  singular: 'role',
  namespaced: true,
  schema: RoleSchema,
  description: 'Permissions within one namespace, granted by a RoleBinding.',
  validate: validateRules(true),
  printerColumns: [ageColumn],
};

export const clusterRoleKind: KindDefinition = {
  ...common,
  kind: 'ClusterRole',
  plural: 'clusterroles',
  singular: 'clusterrole',
  namespaced: false,
  schema: ClusterRoleSchema,
  description: 'Permissions across the cluster, or within a namespace when bound there by a RoleBinding.',
  validate: validateRules(false),
  printerColumns: [ageColumn],
};

const roleColumn = {
  name: 'Role',
  type: 'string',
  description: 'The role granted.',
  cell: (o: KubeObject) => `${(o.roleRef as RoleRef).kind}/${(o.roleRef as RoleRef).name}`,
} as const;

const subjectColumn = (name: string, kind: Subject['kind']) =>
  ({
    name,
    type: 'string',
    priority: 1,
    description: `${kind} subjects.`,
    cell: (o: KubeObject) =>
      ((o.subjects as Subject[] | undefined) ?? [])
        .filter((s) => s.kind === kind)
        .map((s) => (kind === 'ServiceAccount' ? `${s.namespace ?? ''}/${s.name}` : s.name))
        .join(', ') || undefined,
  }) as const;

const bindingColumns = [
  roleColumn,
  ageColumn,
  subjectColumn('Users', 'User'),
  subjectColumn('Groups', 'Group'),
  subjectColumn('ServiceAccounts', 'ServiceAccount'),
];

export const roleBindingKind: KindDefinition = {
  ...common,
  kind: 'RoleBinding',
  plural: 'rolebindings',
  singular: 'rolebinding',
  namespaced: true,
  schema: RoleBindingSchema,
  description: 'Grants a Role or ClusterRole to users, groups or service accounts within one namespace.',
  normalize: defaultSubjects,
  validate: validateBinding(true),
  printerColumns: bindingColumns,
};

export const clusterRoleBindingKind: KindDefinition = {
  ...common,
  kind: 'ClusterRoleBinding',
  plural: 'clusterrolebindings',
  singular: 'clusterrolebinding',
  namespaced: false,
  schema: ClusterRoleBindingSchema,
  description: 'Grants a ClusterRole to users, groups or service accounts across the cluster.',
  normalize: defaultSubjects,
  validate: validateBinding(false),
  printerColumns: bindingColumns,
};

/** The four RBAC kinds. */
export const RBAC_KINDS: readonly KindDefinition[] = [
  roleKind,
  clusterRoleKind,
  roleBindingKind,
  clusterRoleBindingKind,
];
