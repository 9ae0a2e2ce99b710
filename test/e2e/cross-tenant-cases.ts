/**
 * The HTTP requests of the cross-tenant matrix: every resource and
 * subresource the hub serves (from discovery, plus those it serves without
 * listing them), every verb, in every namespace and on every device's
 * objects, and the non-resource paths; and how a refusal of the authoriser is
 * told from one of an admission check after it.
 */
import { randomUUID } from 'node:crypto';
import type { ApiClient } from '../support/index.ts';
import type { MatrixRequest, Subject } from './cross-tenant-policy.ts';

/** A served resource: from discovery, or one of those the hub serves without listing. */
export interface Served {
  readonly group: string;
  readonly version: string;
  readonly name: string;
  readonly subresource: string;
  readonly namespaced: boolean;
}

/** Subresources the hub serves that discovery does not list (as Kubernetes lists pods/log, we do not yet). */
export const UNLISTED: readonly Served[] = [
  { group: 'outpost.dev', version: 'v1alpha1', name: 'workloads', subresource: 'log', namespaced: true },
  {
    group: 'outpost.dev',
    version: 'v1alpha1',
    name: 'opcuaconnectors',
    subresource: 'telemetry',
    namespaced: true,
  },
  {
    group: 'outpost.dev',
    version: 'v1alpha1',
    name: 'opcuaconnectors',
    subresource: 'commands',
    namespaced: true,
  },
  { group: '', version: 'v1', name: 'namespaces', subresource: 'finalize', namespaced: false },
];

/** The namespaces tried: both teams' and the hub's own. */
export const NAMESPACES = ['team-a', 'team-b', 'outpost-system'];
/** The devices, enrolled as such. */
export const DEVICES = ['dev-1', 'dev-2', 'dev-3'];
/** The name of the objects tried in namespaces (and of cluster-scoped ones not named per device or namespace). */
export const FIXTURE = 'fixture';
const MERGE = 'application/merge-patch+json';

/** One request of the matrix. */
export interface Case extends MatrixRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  readonly path: string;
  readonly body?: unknown;
  readonly contentType?: string;
}

/** Every resource and subresource discovery lists, in every group's preferred version. */
export async function discover(admin: ApiClient): Promise<Served[]> {
  const lists: Array<{ group: string; version: string }> = [{ group: '', version: 'v1' }];
  for (const group of (await admin.request('GET', '/apis')).json().groups as Array<{
    name: string;
    preferredVersion: { version: string };
  }>)
    lists.push({ group: group.name, version: group.preferredVersion.version });
  const served: Served[] = [];
  for (const { group, version } of lists) {
    const path = group === '' ? `/api/${version}` : `/apis/${group}/${version}`;
    for (const resource of (await admin.request('GET', path)).json().resources as Array<{
      name: string;
      namespaced: boolean;
    }>) {
      const [name = '', subresource = ''] = resource.name.split('/');
      served.push({ group, version, name, subresource, namespaced: resource.namespaced });
    }
  }
  return served;
}

/** The requests a subject makes: every verb on every resource, in every namespace, on every name. */
export function casesFor(served: readonly Served[], subject: Subject): Case[] {
  const cases: Case[] = [];
  const tag = `m-${subject.name}`;
  for (const r of served) {
    const resource = `${r.group}/${r.name}${r.subresource ? `/${r.subresource}` : ''}`;
    const base = r.group === '' ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
    const stub = (name: string, namespace?: string) => ({
      apiVersion: r.group === '' ? r.version : `${r.group}/${r.version}`,
      kind: 'Matrix',
      metadata: { name, ...(namespace ? { namespace } : {}), labels: { matrix: 'fixture' } },
    });
    const add = (c: Omit<Case, 'resource' | 'resourceRequest'>) =>
      cases.push({ ...c, resource, resourceRequest: true });
    const scopes: Array<{ namespace: string; names: string[] }> = r.namespaced
      ? NAMESPACES.map((namespace) => ({ namespace, names: [FIXTURE] }))
      : [{ namespace: '', names: namesOf(r.name) }];
    for (const { namespace, names } of scopes) {
      const collection = `${base}${namespace ? `/namespaces/${namespace}` : ''}/${r.name}`;
      for (const name of names) {
        const one = `${collection}/${name}${r.subresource ? `/${r.subresource}` : ''}`;
        // A Namespace object is its own namespace to the authoriser: the table names it by its name.
        add({ verb: 'get', namespace, name, method: 'GET', path: one });
        add({ verb: 'watch', namespace, name, method: 'GET', path: `${one}?watch=1&timeoutSeconds=1` });
        add({ verb: 'update', namespace, name, method: 'PUT', path: one, body: stub(name, namespace) });
        add({
          verb: 'patch',
          namespace,
          name,
          method: 'PATCH',
          path: one,
          body: { metadata: { labels: { matrix: 'patched' } } },
          contentType: MERGE,
        });
        add({ verb: 'delete', namespace, name, method: 'DELETE', path: one });
        if (r.subresource) {
          add({ verb: 'create', namespace, name, method: 'POST', path: one, body: stub(name, namespace) });
          continue;
        }
        if (!r.namespaced) {
          const narrowed = `fieldSelector=metadata.name%3D${name}`;
          add({ verb: 'list', namespace, name, method: 'GET', path: `${collection}?${narrowed}` });
          add({
            verb: 'watch',
            namespace,
            name,
            method: 'GET',
            path: `${collection}?watch=1&timeoutSeconds=1&${narrowed}`,
          });
        }
      }
      if (r.subresource) continue;
      const labelled = 'labelSelector=matrix%3Dfixture';
      add({ verb: 'list', namespace, name: '', method: 'GET', path: `${collection}?${labelled}` });
      add({
        verb: 'watch',
        namespace,
        name: '',
        method: 'GET',
        path: `${collection}?watch=1&timeoutSeconds=1&${labelled}`,
      });
      add({
        verb: 'create',
        namespace,
        name: '',
        method: 'POST',
        path: collection,
        body: stub(tag, namespace),
      });
      add({
        verb: 'deletecollection',
        namespace,
        name: '',
        method: 'DELETE',
        path: `${collection}?${labelled}`,
      });
    }
    if (r.namespaced && !r.subresource) {
      // Across namespaces.
      const all = `${base}/${r.name}`;
      add({ verb: 'list', namespace: '', name: '', method: 'GET', path: all });
      add({ verb: 'watch', namespace: '', name: '', method: 'GET', path: `${all}?watch=1&timeoutSeconds=1` });
    }
  }
  for (const path of [
    '/api',
    '/api/v1',
    '/apis',
    '/apis/outpost.dev/v1alpha1',
    '/openapi/v2',
    '/version',
    '/healthz',
    '/debug/leader',
    ...DEVICES.map((d) => `/agent/v1/devices/${d}/log-requests?timeoutSeconds=1`),
  ]) {
    const [bare = ''] = path.split('?', 1);
    cases.push({
      resource: bare,
      resourceRequest: false,
      namespace: '',
      name: '',
      verb: 'get',
      method: 'GET',
      path,
    });
  }
  for (const d of DEVICES) {
    const path = `/agent/v1/devices/${d}/log-requests/${randomUUID()}`;
    cases.push({
      resource: path,
      resourceRequest: false,
      namespace: '',
      name: '',
      verb: 'post',
      method: 'POST',
      path,
      body: '',
    });
  }
  return cases;
}

/** The names a cluster-scoped kind is tried with: each device's, each namespace's, or a fixture's. */
function namesOf(resource: string): string[] {
  if (resource === 'devices' || resource === 'mailboxes') return DEVICES;
  if (resource === 'namespaces') return NAMESPACES;
  return [FIXTURE];
}

/** A 403 of the authoriser (`... cannot VERB resource/path ...`), not of an admission check after it. */
export function isAuthorizerRefusal(text: string): boolean {
  return /cannot \S+ (resource|path) /.test(text);
}

/** Runs `work` over `items`, `width` at a time. */
export async function pool<T>(
  items: readonly T[],
  width: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}
