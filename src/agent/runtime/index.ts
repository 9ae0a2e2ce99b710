/**
 * Runtimes: how the agent runs the units of its Mailbox on the device. The
 * `Runtime` interface (runtime.ts) is the contract; `process` runs
 * containers' commands as supervised host processes; `podman` runs them with
 * `podman play kube`.
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
  type VolumeShape,
} from './pod-spec.ts';
export { createPodmanRuntime, type PodmanRuntimeOptions } from './podman.ts';
export type { RestartTiming } from './process-container.ts';
export { startTimeOf } from './process-proc.ts';
export { createProcessRuntime, type ProcessRuntimeOptions } from './process-runtime.ts';
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
