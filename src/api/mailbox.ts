// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${device...}` placeholders are the feature, written as users write them.
import Type from 'typebox';
import type { KindDefinition } from './kind.ts';
import { ageColumn, EmbeddedObject, objectSchema, Time } from './meta.ts';
import {
  CronPolicySchema,
  CronStatus,
  DeviceProfiles,
  RetryTimingSchema,
  WorkloadProfiles,
} from './profile-schema.ts';
import { UpdateWindow } from './rollout.ts';
import { WorkloadUploads } from './upload-schema.ts';

/** Where a Mailbox object comes from: the Workload that declares it and the Placement that put it here. */
export const MailboxSource = Type.Object(
  {
    namespace: Type.String({ description: 'Namespace of the Workload and the Placement.' }),
    workload: Type.String({ description: 'The Workload that declares the object.' }),
    placement: Type.String({ description: 'The Placement that put it on this device.' }),
  },
  { description: 'Where the object comes from.' },
);
export type MailboxSource = Type.Static<typeof MailboxSource>;

/** Which object a status entry (or a left-out object) is about: kind, namespace and name on the device. */
export const ObjectRef = Type.Object(
  {
    apiVersion: Type.String(),
    kind: Type.String(),
    namespace: Type.Optional(Type.String()),
    name: Type.String(),
  },
  { description: 'The object on the device.' },
);
export type ObjectRef = Type.Static<typeof ObjectRef>;

export const MailboxObject = Type.Object(
  {
    source: MailboxSource,
    hash: Type.String({ description: 'Content hash of the customised object; the agent reports it back.' }),
    revision: Type.Optional(
      Type.Integer({
        minimum: 1,
        description: "The Placement's rollout revision this object is of: the one the device's batch holds.",
      }),
    ),
    since: Type.Optional({
      ...Time,
      description:
        'When this content (this hash) was first placed here; the progress deadline counts from it.',
    }),
    rootless: Type.Optional(
      Type.Boolean({
        description:
          "Run as the agent's unprivileged user (the Workload's spec.rootless); set on Pods, Deployments and StatefulSets only, and part of the hash.",
      }),
    ),
    profiles: Type.Optional({
      ...WorkloadProfiles,
      description:
        "The Workload's spec.profiles, on its runnable objects: the agent runs them only while these conditions of the Device's profiles hold.",
    }),
    retry: Type.Optional(RetryTimingSchema),
    cron: Type.Optional(CronPolicySchema),
    updateWindow: Type.Optional({
      ...UpdateWindow,
      description:
        "The device's update window for its rollout revisions (the Device's own, else the Placement's): a changed object replaces the running one only inside it.",
    }),
    uploads: Type.Optional({
      ...WorkloadUploads,
      description:
        "The Workload's spec.uploads, on its runnable objects: the agent mounts and uploads these directories.",
    }),
    object: EmbeddedObject,
  },
  { description: 'One object the device must run, already customised for it.' },
);
export type MailboxObject = Type.Static<typeof MailboxObject>;

/** Why a placed object is not in a device's Mailbox. */
export const EXCLUSION_REASONS = ['MissingParameter', 'PatchFailed', 'Conflict'] as const;
export type ExclusionReason = (typeof EXCLUSION_REASONS)[number];

export const ExcludedObject = Type.Object(
  {
    source: MailboxSource,
    ref: ObjectRef,
    reason: Type.Enum([...EXCLUSION_REASONS], {
      description:
        'MissingParameter: a ${device...} parameter the device lacks; PatchFailed: an override could not apply; Conflict: another Workload placed an object of the same kind, namespace and name first.',
    }),
    message: Type.String(),
  },
  { description: 'A placed object left out of this device, and why.' },
);
export type ExcludedObject = Type.Static<typeof ExcludedObject>;

/**
 * Reasons of a Pending object that waits as asked, not for lack of progress:
 * a device profile's condition does not hold, or the device declares no such
 * profile. The hub's rollout summaries give these no progress deadline.
 */
export const HELD_REASONS: ReadonlySet<string> = new Set([
  'ProfileConditionNotMet',
  'ProfileNotDeclared',
  'WaitingForUpdateWindow',
]);

/** The phases an agent reports for an object. */
export const OBJECT_PHASES = ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'] as const;

/** What the agent reports about one object, in the Mailbox's status subresource. */
export const ObjectStatus = Type.Object(
  {
    ref: ObjectRef,
    observedHash: Type.Optional(
      Type.String({
        description:
          'The `hash` of the content the agent has applied (with reason ApplyFailed: the content it could not apply).',
      }),
    ),
    phase: Type.Enum([...OBJECT_PHASES]),
    ready: Type.Optional(Type.Boolean()),
    restarts: Type.Optional(Type.Integer({ minimum: 0 })),
    exitCode: Type.Optional(Type.Integer()),
    reason: Type.Optional(Type.String({ description: 'A CamelCase reason, e.g. ImagePullFailed.' })),
    message: Type.Optional(Type.String()),
    nextRetryTime: Type.Optional({
      ...Time,
      description:
        'When a container that exited is restarted next (its Workload’s retry policy, or the default backoff).',
    }),
    lastTransitionTime: Type.Optional(Time),
    cron: Type.Optional(CronStatus),
  },
  { description: 'What the agent reports about one object.' },
);
export type ObjectStatus = Type.Static<typeof ObjectStatus>;

export const MailboxSchema = objectSchema(
  'outpost.dev/v1alpha1',
  'Mailbox',
  "Everything one device must run, customised for it; written by the hub, read by the device's agent.",
  {
    spec: Type.Optional(
      Type.Object(
        {
          objects: Type.Optional(
            Type.Array(MailboxObject, {
              'x-kubernetes-list-type': 'atomic',
              description:
                'Every object the device must run, ordered by source namespace, workload, then position.',
            }),
          ),
          profiles: Type.Optional({
            ...DeviceProfiles,
            description: "The Device's spec.profiles, which the agent evaluates.",
          }),
          excluded: Type.Optional(
            Type.Array(ExcludedObject, {
              'x-kubernetes-list-type': 'atomic',
              description:
                'Placed objects left out of this device, with the reason (the agent ignores these).',
            }),
          ),
        },
        { description: 'Written by the hub only.' },
      ),
    ),
    status: Type.Optional(
      Type.Object(
        {
          observedGeneration: Type.Optional(
            Type.Integer({ description: 'The Mailbox generation the agent last read.' }),
          ),
          objects: Type.Optional(Type.Array(ObjectStatus)),
        },
        { description: "Written by the device's agent (status subresource)." },
      ),
    ),
  },
);
export type Mailbox = Type.Static<typeof MailboxSchema>;

export const mailboxKind: KindDefinition = {
  group: 'outpost.dev',
  version: 'v1alpha1',
  kind: 'Mailbox',
  plural: 'mailboxes',
  singular: 'mailbox',
  shortNames: ['mb'],
  categories: ['outpost'],
  namespaced: false,
  schema: MailboxSchema,
  description:
    "Everything one device must run, customised for it; written by the hub, read by the device's agent.",
  statusSubresource: true,
  strategicMergePatch: false,
  printerColumns: [
    {
      name: 'Objects',
      type: 'integer',
      description: 'Objects the device must run.',
      cell: (o) => (o.spec as Mailbox['spec'])?.objects?.length ?? 0,
    },
    {
      name: 'Running',
      type: 'integer',
      description: 'Objects the device reports running.',
      cell: (o) => (o.status as Mailbox['status'])?.objects?.filter((s) => s.phase === 'Running').length ?? 0,
    },
    {
      name: 'Excluded',
      type: 'integer',
      priority: 1,
      description: 'Placed objects left out of this device.',
      cell: (o) => (o.spec as Mailbox['spec'])?.excluded?.length ?? 0,
    },
    ageColumn,
  ],
};
