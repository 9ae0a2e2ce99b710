/**
 * The hub's Prometheus metrics (`GET /metrics`): one {@link HubMetrics} per
 * hub (its own prom-client registry and the controller runtime's), the API
 * request series (request-metrics.ts, named as the apiserver's), the store's
 * group commits, the fleet series computed when scraped (fleet-metrics.ts),
 * and the Mailboxes' delivery lag in seconds (delivery-lag.ts).
 */
export { DeliveryLag } from './delivery-lag.ts';
export { type FleetSources, registerFleetMetrics } from './fleet-metrics.ts';
export { HubMetrics, type RequestLabels } from './hub-metrics.ts';
export { labelsOf, type RequestMetricsOptions, requestMetricsPlugin } from './request-metrics.ts';
export { registerRolloutMetrics } from './rollout-metrics.ts';
export { metricsRoutes } from './routes.ts';
