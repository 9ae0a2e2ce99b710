/** The hub: the API server, its controllers and its PKI. */
export { type BuildHubOptions, type BuiltHub, buildHub, MAX_BODY_BYTES } from './http/index.ts';
export { type HubOptions, type RunningHub, startHub } from './hub.ts';
