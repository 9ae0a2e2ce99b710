/** The hub: the API server, its controllers and its PKI. */
export { type BuildHubOptions, type BuiltHub, buildHub } from './http/app.ts';
export { type HubOptions, type RunningHub, startHub } from './hub.ts';
