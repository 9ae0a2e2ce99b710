/**
 * Small helpers of no component: the hub and the agent both use them, and
 * neither may import the other.
 */
export { writeFileAtomic } from './atomic-write.ts';
export { canonicalJson, equalAsJson } from './canonical-json.ts';
export {
  type DataDirLock,
  DataDirLockedError,
  type DataDirLockOptions,
  lockDataDir,
} from './data-dir-lock.ts';
export { delay } from './delay.ts';
export { nestsDeeperThan } from './json-depth.ts';
export { monotonicMs } from './monotonic.ts';
export {
  canBuildLevels,
  createNetworkLevels,
  type Level,
  type LevelNumber,
  type NetworkLevels,
  namespaceNames,
  nsenterArgs,
  removeNamespaces,
} from './network-levels.ts';
export { networkReason } from './network-reason.ts';
export { startTimeOf } from './process-start-time.ts';
export { readFileIfExists } from './read-if-exists.ts';
export { splitTokenProxy, tokenWithProxy } from './token-proxy.ts';
