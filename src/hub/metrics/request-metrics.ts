/**
 * Counts every API request as the apiserver does (`apiserver_request_total`,
 * `apiserver_request_duration_seconds`, `apiserver_longrunning_requests`),
 * as a shared plugin: register it before authentication, so that requests
 * refused with 401 or 403 are counted too.
 */
import type { KindRegistry } from '../../api/index.ts';
import { requestAttributes } from '../auth/index.ts';
import { sharedPlugin } from '../kube-api/index.ts';
import type { HubMetrics, RequestLabels } from './hub-metrics.ts';

/** Options of {@link requestMetricsPlugin}. */
export interface RequestMetricsOptions {
  readonly metrics: HubMetrics;
  /** Only resources it serves are named in labels (a client cannot make up series). */
  readonly registry: KindRegistry;
}

const NOBODY = { user: '', groups: [] };
const APPLY_PATCH = 'application/apply-patch+yaml';

/** The request metrics hook, shared with every route group registered after it. */
export const requestMetricsPlugin = sharedPlugin<RequestMetricsOptions>(
  'request-metrics',
  async (app, options) => {
    const { metrics, registry } = options;
    app.addHook('onRequest', async (request, reply) => {
      const started = performance.now();
      const labels = labelsOf(
        registry,
        request.method,
        request.url,
        request.query as Record<string, unknown>,
        request.headers['content-type'],
      );
      const ended = labels.verb === 'WATCH' ? metrics.longRunning(labels) : undefined;
      // `close` comes for every response (finished, failed or cut off by the client), on HTTP/1.1 and HTTP/2 alike.
      reply.raw.once('close', () => {
        ended?.();
        metrics.observeRequest(labels, reply.raw.statusCode, (performance.now() - started) / 1000);
      });
    });
  },
);

/** The labels of a request, derived from its URL as the authoriser derives its attributes. */
export function labelsOf(
  registry: KindRegistry,
  method: string,
  url: string,
  query: Readonly<Record<string, unknown>>,
  contentType: string | undefined,
): RequestLabels {
  const [path = '/'] = url.split('?', 1);
  const attributes = requestAttributes(NOBODY, method, path, query ?? {});
  if (!attributes.resourceRequest)
    return { verb: method, group: '', version: '', resource: '', subresource: '', scope: '' };
  const known = registry.byResource(attributes.apiGroup, attributes.apiVersion, attributes.resource);
  let verb = VERBS[attributes.verb] ?? method;
  if (verb === 'PATCH' && (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase() === APPLY_PATCH)
    verb = 'APPLY';
  return {
    verb,
    group: known ? attributes.apiGroup : '',
    version: known ? attributes.apiVersion : '',
    resource: known ? attributes.resource : 'unknown',
    // Subresources are few per kind; an unknown one is answered 404 and named so, not by its text.
    subresource: known && SUBRESOURCES.has(attributes.subresource) ? attributes.subresource : '',
    scope: attributes.name ? 'resource' : attributes.namespace ? 'namespace' : 'cluster',
  };
}

/** The apiserver's verb labels for the authoriser's verbs (a delete of a collection is a DELETE). */
const VERBS: Readonly<Record<string, string>> = {
  get: 'GET',
  list: 'LIST',
  watch: 'WATCH',
  create: 'POST',
  update: 'PUT',
  patch: 'PATCH',
  delete: 'DELETE',
  deletecollection: 'DELETE',
};

/** Every subresource the hub serves, kept as a label; any other is left blank. */
const SUBRESOURCES = new Set(['status', 'log', 'telemetry', 'commands', 'scale', 'finalize', 'eviction']);
