/**
 * API discovery as the Kubernetes apiserver serves it: `/version`, the legacy documents
 * (`/api`, `/api/v1`, `/apis`, `/apis/GROUP`, `/apis/GROUP/VERSION`) and aggregated discovery
 * (`APIGroupDiscoveryList`, `apidiscovery.k8s.io/v2` or `v2beta1`) on `/api` and `/apis` when the
 * client's `Accept` header asks for it, as kubectl 1.32 does first.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { apiVersionOf, type KindDefinition, type KindRegistry } from '../../../api/index.ts';
import { errors } from '../errors.ts';
import { routePlugin } from '../http/index.ts';
import {
  acceptsPlainJson,
  type JsonBody,
  jsonBody,
  parseAccept,
  pathNotFound,
  sendFailure,
  sendJson,
} from './json-documents.ts';
import { STATUS_VERBS, storageVersionHash, verbsOf } from './resource-verbs.ts';

/** Options of {@link discoveryRoutes}. */
export interface DiscoveryOptions {
  /** The kinds served. */
  readonly registry: KindRegistry;
  /** Outpost's own version, shown in `/version` as `v1.32.0-outpost.VERSION`. */
  readonly version: string;
}

/** The Kubernetes release whose API the hub serves. */
export const KUBERNETES_VERSION = { major: '1', minor: '32', patch: '0' } as const;

/** Versions of aggregated discovery served, most preferred first. */
const AGGREGATED_VERSIONS = ['v2', 'v2beta1'] as const;
type AggregatedVersion = (typeof AGGREGATED_VERSIONS)[number];

/** The answer an `Accept` header chose: aggregated discovery of a version, or the legacy document. */
type DiscoveryFormat = { readonly aggregated: AggregatedVersion } | { readonly aggregated: false };

/** The media type of an aggregated discovery answer, written exactly as the apiserver writes it. */
export function aggregatedDiscoveryMediaType(version: AggregatedVersion): string {
  return `application/json;g=apidiscovery.k8s.io;v=${version};as=APIGroupDiscoveryList`;
}

/**
 * The discovery route group, an encapsulated plugin: `GET /version`, `/api`, `/api/:version`,
 * `/apis`, `/apis/:group` and `/apis/:group/:version`. Every answer is JSON; unknown groups and
 * versions answer a `404` Status, an `Accept` header naming none of the served media types a
 * `406` Status. Documents are built once, when the plugin loads: the registry does not change.
 */
export const discoveryRoutes = routePlugin<DiscoveryOptions>('discovery', async (app, options) => {
  const { registry } = options;
  const version = jsonBody(versionInfo(options.version));
  const groups = registry.groups();
  const coreVersions = groups.find((entry) => entry.group === '')?.versions ?? [];
  const namedGroups = groups.filter((entry) => entry.group !== '');
  const resourceLists = new Map<string, JsonBody>();
  for (const { group, versions } of groups) {
    for (const v of versions) {
      resourceLists.set(apiVersionOf({ group, version: v }), jsonBody(apiResourceList(registry, group, v)));
    }
  }
  const groupDocuments = new Map(
    namedGroups.map((entry) => [
      entry.group,
      jsonBody({ kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(entry) }),
    ]),
  );
  const groupList = jsonBody({ kind: 'APIGroupList', apiVersion: 'v1', groups: namedGroups.map(apiGroup) });
  const aggregated = (core: boolean) =>
    new Map(AGGREGATED_VERSIONS.map((v) => [v, jsonBody(aggregatedDiscovery(registry, core, v))] as const));
  const aggregatedCore = aggregated(true);
  const aggregatedGroups = aggregated(false);

  // Each document is served with and without a trailing slash, as the apiserver's go-restful
  // routes are (`kubectl get --raw /api/` and clients joining paths end with one).
  const serve = (
    urls: readonly string[],
    handler: (request: FastifyRequest, reply: FastifyReply) => unknown,
  ) => {
    for (const url of urls) app.get(url, async (request, reply) => handler(request, reply));
  };
  serve(['/version', '/version/'], (request, reply) => sendJson(request, reply, version));

  serve(['/api', '/api/'], (request, reply) => {
    const format = negotiateDiscovery(request.headers.accept);
    if (format === undefined) return notAcceptable(reply);
    reply.header('vary', 'Accept');
    if (format.aggregated) return sendAggregated(request, reply, aggregatedCore, format.aggregated);
    const versions = {
      kind: 'APIVersions',
      versions: coreVersions,
      serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: request.headers.host ?? '' }],
    };
    return sendJson(request, reply, jsonBody(versions));
  });

  serve(['/apis', '/apis/'], (request, reply) => {
    const format = negotiateDiscovery(request.headers.accept);
    if (format === undefined) return notAcceptable(reply);
    reply.header('vary', 'Accept');
    if (format.aggregated) return sendAggregated(request, reply, aggregatedGroups, format.aggregated);
    return sendJson(request, reply, groupList);
  });

  app.get<{ Params: { version: string } }>('/api/:version', async (request, reply) => {
    const { version: v } = request.params;
    return sendDocument(request, reply, coreVersions.includes(v) ? resourceLists.get(v) : undefined);
  });

  app.get<{ Params: { group: string } }>('/apis/:group', async (request, reply) => {
    const { group } = request.params;
    return sendDocument(request, reply, groupDocuments.get(group));
  });

  app.get<{ Params: { group: string; version: string } }>('/apis/:group/:version', async (request, reply) => {
    const { group, version: v } = request.params;
    return sendDocument(request, reply, resourceLists.get(`${group}/${v}`));
  });

  // With a trailing slash these paths would reach the resource routes' wildcards
  // (`/api/v1/*`): each served document gets a static route of its own, which the router prefers.
  for (const [groupVersion, body] of resourceLists) {
    const url = groupVersion.includes('/') ? `/apis/${groupVersion}/` : `/api/${groupVersion}/`;
    serve([url], (request, reply) => sendDocument(request, reply, body));
  }
  for (const [group, body] of groupDocuments) {
    serve([`/apis/${group}/`], (request, reply) => sendDocument(request, reply, body));
  }
});

function sendAggregated(
  request: FastifyRequest,
  reply: FastifyReply,
  documents: ReadonlyMap<AggregatedVersion, JsonBody>,
  version: AggregatedVersion,
): FastifyReply {
  // The map holds every served version.
  return sendJson(request, reply, documents.get(version)!, {
    contentType: aggregatedDiscoveryMediaType(version),
  });
}

function sendDocument(
  request: FastifyRequest,
  reply: FastifyReply,
  body: JsonBody | undefined,
): FastifyReply {
  if (body === undefined) return sendFailure(reply, pathNotFound());
  const format = negotiateDiscovery(request.headers.accept);
  if (format === undefined) return notAcceptable(reply);
  return sendJson(request, reply, body);
}

function notAcceptable(reply: FastifyReply): FastifyReply {
  return sendFailure(
    reply,
    errors.notAcceptable(
      `only the following media types are accepted: application/json, ${AGGREGATED_VERSIONS.map(aggregatedDiscoveryMediaType).join(', ')}`,
    ),
  );
}

/**
 * Chooses the discovery format from an `Accept` header, in the client's order of preference:
 * aggregated discovery of a served version, or plain JSON (which any `application/json`,
 * `application/*` or `*\/*` range without `as=` accepts). `undefined` when nothing served fits.
 */
export function negotiateDiscovery(accept: string | undefined): DiscoveryFormat | undefined {
  for (const range of parseAccept(accept)) {
    const { g, v, as } = range.params;
    if (range.type === 'application/json' && g === 'apidiscovery.k8s.io' && as === 'APIGroupDiscoveryList') {
      const version = AGGREGATED_VERSIONS.find((served) => served === v);
      if (version !== undefined) return { aggregated: version };
      continue;
    }
    if (acceptsPlainJson(range)) return { aggregated: false };
  }
  return undefined;
}

/** The `version.Info` of `/version`. */
export function versionInfo(outpostVersion: string): Record<string, string> {
  const { major, minor, patch } = KUBERNETES_VERSION;
  // A semantic-version pre-release may hold only alphanumerics, dots and hyphens.
  const suffix = outpostVersion.replace(/[^0-9A-Za-z.-]/g, '-');
  return {
    major,
    minor,
    gitVersion: `v${major}.${minor}.${patch}-outpost.${suffix}`,
    gitCommit: '',
    gitTreeState: '',
    buildDate: '1970-01-01T00:00:00Z',
    goVersion: `node${process.versions.node}`,
    compiler: 'node',
    platform: `${GO_OS[process.platform] ?? process.platform}/${GO_ARCH[process.arch] ?? process.arch}`,
  };
}

const GO_OS: Readonly<Record<string, string>> = { win32: 'windows' };
const GO_ARCH: Readonly<Record<string, string>> = { x64: 'amd64', ia32: '386', arm: 'arm', arm64: 'arm64' };

function apiGroup({ group, versions }: { group: string; versions: string[] }) {
  const forDiscovery = versions.map((version) => ({ groupVersion: `${group}/${version}`, version }));
  return { name: group, versions: forDiscovery, preferredVersion: forDiscovery[0] };
}

function byPlural(a: KindDefinition, b: KindDefinition): number {
  return a.plural < b.plural ? -1 : a.plural > b.plural ? 1 : 0;
}

/** The legacy `APIResourceList` of one group version: each resource, then its `status` subresource. */
export function apiResourceList(registry: KindRegistry, group: string, version: string) {
  const resources = registry
    .inGroupVersion(group, version)
    .sort(byPlural)
    .flatMap((def) => {
      const resource = {
        name: def.plural,
        singularName: def.singular,
        namespaced: def.namespaced,
        kind: def.kind,
        verbs: verbsOf(def),
        ...optionalList('shortNames', def.shortNames),
        ...optionalList('categories', def.categories),
        storageVersionHash: storageVersionHash(def),
      };
      if (!def.statusSubresource) return [resource];
      const status = {
        name: `${def.plural}/status`,
        singularName: '',
        namespaced: def.namespaced,
        kind: def.kind,
        verbs: [...STATUS_VERBS],
      };
      return [resource, status];
    });
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: apiVersionOf({ group, version }),
    resources,
  };
}

/** The `APIGroupDiscoveryList` of the core group (`core`) or of every other group. */
export function aggregatedDiscovery(registry: KindRegistry, core: boolean, version: AggregatedVersion) {
  const items = registry
    .groups()
    .filter((entry) => (entry.group === '') === core)
    .map(({ group, versions }) => ({
      metadata: group === '' ? {} : { name: group },
      versions: versions.map((v) => ({
        version: v,
        resources: registry.inGroupVersion(group, v).sort(byPlural).map(resourceDiscovery),
        freshness: 'Current',
      })),
    }));
  return { kind: 'APIGroupDiscoveryList', apiVersion: `apidiscovery.k8s.io/${version}`, metadata: {}, items };
}

function resourceDiscovery(def: KindDefinition) {
  const responseKind = { group: def.group, version: def.version, kind: def.kind };
  return {
    resource: def.plural,
    responseKind,
    scope: def.namespaced ? 'Namespaced' : 'Cluster',
    singularResource: def.singular,
    verbs: verbsOf(def),
    ...optionalList('shortNames', def.shortNames),
    ...optionalList('categories', def.categories),
    ...(def.statusSubresource
      ? { subresources: [{ subresource: 'status', responseKind, verbs: [...STATUS_VERBS] }] }
      : {}),
  };
}

/** `{name: list}` when the list has entries; the apiserver omits empty lists. */
function optionalList<N extends string>(
  name: N,
  list: readonly string[] | undefined,
): Partial<Record<N, string[]>> {
  return list !== undefined && list.length > 0 ? ({ [name]: [...list] } as Record<N, string[]>) : {};
}
