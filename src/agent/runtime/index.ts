/**
 * Runtimes: how the agent runs the units of its Mailbox on the device. The
 * `Runtime` interface (runtime.ts) is the contract; `process/` runs
 * containers' commands as supervised host processes; `podman/` runs them with
 * `podman play kube`. What both use sits here: the pod spec's shape
 * (pod-spec.ts), container environments (container-env.ts), ConfigMap and
 * Secret volumes on the host (volumes.ts), one queue of changes per unit
 * (unit-locks.ts) and the agent's own command line (self-command.ts).
 */
export {
  type ContainerShape,
  type EnvFromShape,
  type EnvVarShape,
  type PodSpecShape,
  podSpecOf,
  referencesOf,
  replicasOf,
  restartPolicyOf,
  unrunnableReason,
  type VolumeShape,
} from './pod-spec.ts';
export { createPodmanRuntime, type PodmanRuntimeOptions } from './podman/index.ts';
export {
  createProcessRuntime,
  type ProcessRuntimeOptions,
  type RestartTiming,
  startTimeOf,
} from './process/index.ts';
export {
  type ContainerLimits,
  CRITICAL_PRIORITY,
  containerLimitsOf,
  formatBytes,
  oomScoreAdjOf,
  parseQuantity,
  priorityOf,
  QOS_CLASSES,
  type QosClass,
  qosClassOf,
  SYSTEM_PRIORITIES,
  type UnitRequests,
  unitRequestsOf,
} from './resources.ts';
export {
  type ActualUnit,
  type CloseOptions,
  type DesiredUnit,
  isUnitKind,
  type LogOptions,
  type Runtime,
  UNIT_KINDS,
  type UnitKind,
  UnitNotFoundError,
  type UnitPhase,
  type UnitStatus,
  unitIdOf,
} from './runtime.ts';
export { resolveOutpost, selfCommand } from './self-command.ts';
