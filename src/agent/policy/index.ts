/**
 * Device policies on the agent (issue 15): the metric table (metric-table.ts)
 * filled by the agent's own measurements (device-metrics.ts) and by local
 * programs through the loopback metrics endpoint (metrics-endpoint.ts), and
 * the profile engine (profile-engine.ts, loaded only when profiles are
 * placed) that holds back units whose conditions do not hold; assembled by
 * `DevicePolicies` (policies.ts).
 */

export { MAX_BATCH, type PostedMetric, parseBody } from './metrics-endpoint.ts';
export { DevicePolicies, type DevicePoliciesOptions } from './policies.ts';
export type { Hold, Transition } from './profile-engine.ts';
