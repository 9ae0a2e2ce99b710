/**
 * The in-process harness: a real ObjectService (or a whole app built by
 * `buildHub`, driven with `app.inject()`) over a real SQLite store in a temp
 * dir, a recorder of the store's writes, and polling with a deadline. For the
 * controller runtime's and the hub controllers' tests and the API tests; not
 * exported by `test/support/index.ts`, whose process helpers do not load the hub.
 */

export {
  type ControllersTestEnv,
  type ControllersTestEnvOptions,
  type EventJson,
  startControllersEnv,
} from './controllers.ts';
export { type Answer, assertRoundTrips, assertServing, call, startInProcessHub } from './hub.ts';
export {
  configMap,
  eventually,
  type InProcessHub,
  openTestStore,
  recordWrites,
  startTestService,
  type TestService,
  type TestServiceOptions,
  type WriteLog,
} from './service.ts';
