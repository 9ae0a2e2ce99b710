/**
 * The crash-durability workload and its checker: concurrent writers and
 * watchers that record every request and event, and the checks that a
 * recorded history must pass (no acknowledged write lost, revisions never
 * reused, watches gap-free and in order, nothing half-written).
 */
export { checkHistory } from './check-history.ts';
export {
  catchUp,
  crashSeed,
  createNamespaces,
  firstOf,
  makeWriters,
  readFinalState,
  type Sentinels,
  stoppedEarly,
  writeSentinel,
  writeSentinels,
} from './history-client.ts';
export * from './records.ts';
export { checkStoreFile } from './store-file.ts';
export {
  collectionPath,
  Recorder,
  resumeRevision,
  seededRandom,
  Writer,
  watchDispatcher,
  watchSession,
} from './workload.ts';
