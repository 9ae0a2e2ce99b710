/**
 * The placement feature: the controllers that give every Device its Mailbox
 * and summarise the rollout into Workload and Placement status, with the pure
 * parts they are made of.
 *
 * - Reconcilers: `mailbox.ts` (one Mailbox per device), `summary.ts`
 *   (Placement and Workload status), `device-health.ts` (Unreachable after
 *   missed heartbeats); `controllers.ts` adds them to a manager, and
 *   `watches.ts` maps informer events to their keys (predicates, coalesced
 *   summaries).
 * - Pure parts, no I/O: which Workloads and Devices a Placement selects
 *   (`selection.ts`, and `boundaries.ts`: the devices a namespace's
 *   DeviceBoundaries allow), how a Workload's objects are customised for one device
 *   (`template.ts`, `render.ts`: `${device...}` parameters, overrides), how a
 *   device's Mailbox is composed (`compose.ts`, `hash.ts`: content hashes,
 *   collisions, deterministic order), how the agents' reports are summarised
 *   (`status.ts`, `conditions.ts`), and the in-memory state the reconcilers
 *   share (`state.ts`: device label index, renderers, render stamps).
 */

export { BOUNDED_NAMESPACE_INDEX, boundedNamespaces, DeviceBounds } from './boundaries.ts';
export {
  composeMailbox,
  identityOf,
  type MailboxSpec,
  type PlacedWorkload,
  precedenceKey,
} from './compose.ts';
export {
  boundedMessage,
  type Condition,
  type DeviceProblem,
  MAX_NAMED,
  rolloutConditions,
  withTransitionTimes,
} from './conditions.ts';
export {
  addPlacementControllers,
  type PlacementControllers,
  type PlacementControllersOptions,
} from './controllers.ts';
export { createDeviceHealthReconciler, type DeviceHealthOptions } from './device-health.ts';
export { contentHash } from './hash.ts';
export {
  createMailboxReconciler,
  type MailboxReconcilerOptions,
  type PlacementInformers,
} from './mailbox.ts';
export { type RenderResult, refOf, WorkloadRenderer } from './render.ts';
export {
  DeviceLabelIndex,
  type LabelSelectorShape,
  requirementsOf,
  selects,
  selectsWorkload,
  type WorkloadSelectorShape,
} from './selection.ts';
export { PlacementCaches, parametersSignature, type RenderStamps, specVersion } from './state.ts';
export {
  combineStates,
  type DeviceState,
  type EvaluateOptions,
  evaluateWorkload,
  MAX_BROKEN,
  MAX_REASONS,
  summarize,
} from './status.ts';
export { createSummaryReconciler, type SummaryReconcilerOptions, summaryKey } from './summary.ts';
export {
  type DeviceParameters,
  expand,
  expandString,
  isTemplated,
  MissingParameterError,
  parametersOf,
  parameterValue,
} from './template.ts';
