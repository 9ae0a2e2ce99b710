/**
 * The resource kinds the hub serves. Each kind's TypeBox schema is the one
 * source of its TypeScript type, its validation and its OpenAPI document.
 */
import { REVIEW_KINDS } from './access-review.ts';
import { bootstrapTokenKind } from './bootstrap-token.ts';
import { configMapKind } from './config-map.ts';
import { deviceKind } from './device.ts';
import { deviceBoundaryKind } from './device-boundary.ts';
import { eventKind } from './event.ts';
import { eventsV1Kind } from './events-v1.ts';
import type { KindDefinition } from './kind.ts';
import { leaseKind } from './lease.ts';
import { mailboxKind } from './mailbox.ts';
import { namespaceKind } from './namespace.ts';
import { opcUaConnectorKind } from './opcua-connector.ts';

export {
  type ConnectorConfig,
  ConnectorConfigError,
  ConnectorConfigSchema,
  FEATURE_PATTERN,
  isNodeId,
  NODE_ID_PATTERN,
  parseConnectorConfig,
  type ResolvedConnectorConfig,
  SECURITY_MODES,
  SECURITY_POLICIES,
} from './opcua-connector-config.ts';

import { placementKind } from './placement.ts';
import { RBAC_KINDS } from './rbac.ts';
import { secretKind } from './secret.ts';
import { workloadKind } from './workload.ts';

export * from './access-review.ts';
export * from './bootstrap-token.ts';
export type { ConfigMap } from './config-map.ts';
export type { Device } from './device.ts';
export { type DeviceBoundary, deviceBoundaryKind, selectorText } from './device-boundary.ts';
export {
  type DeviceDecommissionedReason,
  type DeviceFacts,
  DeviceFactsSchema,
  type EnrollmentCaResponse,
  type EnrollmentResponse,
  type EnrollRequest,
  EnrollRequestSchema,
  POLL_TIME_WINDOW_SECONDS,
  type PollRequest,
  PollRequestSchema,
  pollProof,
  type RenewRequest,
  RenewRequestSchema,
} from './enrollment.ts';
export { type Event, eventKind, lastSeen } from './event.ts';
export { EVENTS_V1_FIELDS, type EventsV1Event, eventsV1Kind } from './events-v1.ts';
export * from './gateway.ts';
export * from './kind.ts';
export { type Lease, type LeaseSpec, leaseKind } from './lease.ts';
export { type LogRequest, LogRequestSchema } from './log-request.ts';
export {
  EXCLUSION_REASONS,
  type ExcludedObject,
  type ExclusionReason,
  HELD_REASONS,
  type Mailbox,
  type MailboxObject,
  type MailboxSource,
  mailboxKind,
  OBJECT_PHASES,
  type ObjectRef,
  type ObjectStatus,
} from './mailbox.ts';
export { conditionStatus } from './meta.ts';
export type { Namespace } from './namespace.ts';
export {
  checkObjectPath,
  MAX_OBJECT_PATH_BYTES,
  ObjectPathError,
  objectKey,
  objectPathProblem,
} from './object-path.ts';
export {
  MIN_PUBLISHING_INTERVAL_MS,
  type OpcUaConnector,
  type OpcUaConnectorSpec,
  type OpcUaConnectorStatus,
  opcTcpUrlProblem,
  opcUaConnectorKind,
  parseDurationMs,
} from './opcua-connector.ts';
export type { Placement } from './placement.ts';
export {
  type CronConcurrencyPolicy,
  type CronPolicy,
  CronSchedule,
  type CronSpec,
  cronPolicy,
  dueSchedule,
  MAX_MISSED_SCHEDULES,
  type ProfileConditionSpec,
  type ProfileRef,
  type ProfileSpec,
  parseDuration,
  type RetrySpec,
  type RetryTiming,
  retryTiming,
  type UpdateWindowSpec,
  unknownProfileRefs,
  updateWindowState,
  validateUpdateWindow,
  type WindowState,
} from './policy/index.ts';
export type { CronRunStatus, CronWarning } from './profile-schema.ts';
export * from './rbac.ts';
export { KindRegistry } from './registry.ts';
export {
  APPROVE_ANNOTATION,
  type DisruptionBudget,
  type NamedUpdateWindow,
  type PlacementRevision,
  type RolloutBatch,
  type RolloutSpec,
  type RolloutStatus,
  UPDATE_WINDOW_LABEL,
  UpdateWindow,
  validateRollout,
} from './rollout.ts';
export type { Secret } from './secret.ts';
export {
  type FieldRequirement,
  type LabelRequirement,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
  SelectorError,
  selectorRequirements,
} from './selectors.ts';
export type { RolloutSummary } from './summary.ts';
export { UploadStatus, type WorkloadUpload } from './upload-schema.ts';
export {
  hasPrunableFields,
  labelCauses,
  pruneUnknownFields,
  type ValidationResult,
  validateObject,
} from './validation.ts';
export { WORKLOAD_RESOURCE_KINDS, type Workload } from './workload.ts';

/** Every kind the hub serves. */
export const ALL_KINDS: readonly KindDefinition[] = [
  namespaceKind,
  configMapKind,
  secretKind,
  eventKind,
  deviceKind,
  deviceBoundaryKind,
  workloadKind,
  placementKind,
  opcUaConnectorKind,
  mailboxKind,
  bootstrapTokenKind,
  leaseKind,
  eventsV1Kind,
  ...RBAC_KINDS,
  ...REVIEW_KINDS,
];
