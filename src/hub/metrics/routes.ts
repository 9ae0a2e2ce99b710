/**
 * `GET /metrics`, as the apiserver serves it: the Prometheus text format, for
 * callers that RBAC allows `get` on the non-resource URL `/metrics` (the
 * built-in `outpost:metrics-reader` ClusterRole); the authentication hook
 * answers 401 and 403 before the route runs.
 */
import { routePlugin } from '../kube-api/index.ts';
import type { HubMetrics } from './hub-metrics.ts';

/** The metrics route group. */
export const metricsRoutes = routePlugin<{ metrics: HubMetrics }>('metrics', async (app, { metrics }) => {
  app.get('/metrics', async (_request, reply) =>
    reply
      .header('content-type', metrics.registry.contentType)
      .header('cache-control', 'no-cache, private')
      .send(await metrics.render()),
  );
});
