/** The hub: the API server, its controllers and its PKI. */
export { type BuildHubOptions, buildHub, MAX_BODY_BYTES } from './http/index.ts';
export { type HubOptions, type RunningHub, startHub } from './hub.ts';
