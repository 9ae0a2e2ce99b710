/**
 * Device policies on the agent (issue 15): the metric table (metric-table.ts)
 * filled by the agent's own measurements (device-metrics.ts) and by local
 * programs through the loopback metrics endpoint (metrics-endpoint.ts), and
 * the profile engine (profile-engine.ts, loaded only when profiles are
 * placed) that holds back units whose conditions do not hold; assembled by
 * `DevicePolicies` (policies.ts). The resource guard (resource-guard.ts)
 * admits units against the device's reserves and evicts them under
 * pressure in the order of eviction-order.ts.
 */

export { type EvictionCandidate, evictionOrder, type RankedCandidate } from './eviction-order.ts';
export { MAX_BATCH, type PostedMetric, parseBody } from './metrics-endpoint.ts';
export { DevicePolicies, type DevicePoliciesOptions } from './policies.ts';
export type { Hold, Transition } from './profile-engine.ts';
export {
  DEFAULT_RESERVE_DISK,
  DEFAULT_RESERVE_MEMORY,
  type DeviceResources,
  parseReserve,
  type Refusal,
  type Reserve,
  ResourceGuard,
  type ResourceGuardOptions,
  reserveBytes,
} from './resource-guard.ts';
