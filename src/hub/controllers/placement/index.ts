/**
 * The pure parts of placement: which Workloads and Devices a Placement
 * selects, how a Workload's objects are customised for one device
 * (`${device...}` parameters, overrides), how a device's Mailbox is composed
 * (content hashes, collisions, deterministic order) and how the agents'
 * reports are summarised into Workload and Placement status. No I/O here:
 * the reconcilers (`../mailbox.ts`, `../summary.ts`) feed these functions
 * from informer caches and write the results.
 */
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
export { canonicalJson, contentHash } from './hash.ts';
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
export {
  type DeviceParameters,
  expand,
  expandString,
  isTemplated,
  MissingParameterError,
  parametersOf,
  parameterValue,
} from './template.ts';
