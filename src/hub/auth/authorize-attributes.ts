/**
 * What an authoriser decides on: who asks, which verb, on which resource or
 * path. Derived from the URL alone, as the apiserver's RequestInfoFactory
 * does, so that a request is authorised before anything is looked up (a
 * caller without access gets 403 whether or not the object exists).
 */
import { parseFieldSelector, SelectorError } from '../../api/index.ts';
import { queryBool } from '../kube-api/index.ts';
import type { Identity } from './authenticate.ts';

/** The group every authenticated caller is in, as the apiserver adds it. */
export const AUTHENTICATED_GROUP = 'system:authenticated';
/** The group of unauthenticated callers (only an impersonated `system:anonymous` has it here). */
export const UNAUTHENTICATED_GROUP = 'system:unauthenticated';

/** The attributes of one request, as Kubernetes' `authorizer.Attributes`. */
export interface RequestAttributes {
  readonly user: string;
  /** The caller's groups, `system:authenticated` included. */
  readonly groups: readonly string[];
  /** The device that asks, when a device certificate authenticated the request. */
  readonly device?: string | undefined;
  /**
   * For a resource request: get, list, watch, create, update, patch, delete,
   * deletecollection. For a non-resource request: the lower-case HTTP method.
   */
  readonly verb: string;
  readonly resourceRequest: boolean;
  /** The URL path (non-resource requests are authorised on it). */
  readonly path: string;
  /** '' for the core group. */
  readonly apiGroup: string;
  readonly apiVersion: string;
  /** The plural resource name, e.g. `devices`. */
  readonly resource: string;
  /** e.g. `status`; '' when none. */
  readonly subresource: string;
  /** '' for cluster-scoped requests and lists across namespaces. */
  readonly namespace: string;
  /** '' when the request names no object (a list narrowed by `metadata.name=` names one). */
  readonly name: string;
}

/**
 * The caller's user, groups (with `system:authenticated`) and device. An
 * impersonated `system:anonymous` (group `system:unauthenticated`) is not
 * made authenticated.
 */
export function subjectOf(identity: Identity): Pick<RequestAttributes, 'user' | 'groups' | 'device'> {
  const groups =
    identity.groups.includes(AUTHENTICATED_GROUP) || identity.groups.includes(UNAUTHENTICATED_GROUP)
      ? identity.groups
      : identity.groups.concat(AUTHENTICATED_GROUP);
  return { user: identity.user, groups, device: identity.device };
}

const VERB_OF_METHOD: Readonly<Record<string, string>> = {
  POST: 'create',
  GET: 'get',
  HEAD: 'get',
  PUT: 'update',
  PATCH: 'patch',
  DELETE: 'delete',
};

/** Namespace subresources: `/namespaces/NAME/status` names a namespace, not a collection. */
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

/**
 * The attributes of a request from its method, path (already percent-decoded
 * or not: segments are compared as sent) and query, following
 * RequestInfoFactory: `/api/v1/...` and `/apis/GROUP/VERSION/...` with at
 * least one segment past the version are resource requests; everything else
 * (discovery, OpenAPI, `/version`, `/healthz`) is a non-resource request.
 */
export function requestAttributes(
  identity: Identity,
  method: string,
  path: string,
  query: Readonly<Record<string, unknown>>,
): RequestAttributes {
  const { user, groups, device } = subjectOf(identity);
  // Decoded before splitting, as the router decodes it: `mailboxes%2Fstatus` must not read as
  // one resource here and as a resource and a name there.
  let parts = decodePath(path)
    .split('/')
    .filter((part) => part.length > 0);
  let apiGroup = '';
  const resourceRequest =
    (parts[0] === 'api' && parts.length >= 3) || (parts[0] === 'apis' && parts.length >= 4);
  if (!resourceRequest) {
    // One object literal per request, no spreads: this runs on every request.
    return {
      user,
      groups,
      device,
      verb: method.toLowerCase(),
      resourceRequest: false,
      path,
      apiGroup,
      apiVersion: '',
      resource: '',
      subresource: '',
      namespace: '',
      name: '',
    };
  }
  if (parts[0] === 'apis') {
    apiGroup = parts[1]!;
    parts = parts.slice(2);
  } else {
    parts = parts.slice(1);
  }
  const apiVersion = parts[0]!;
  parts = parts.slice(1);
  let verb = VERB_OF_METHOD[method] ?? method.toLowerCase();
  if (parts[0] === 'watch') {
    parts = parts.slice(1);
    if (verb === 'get') verb = 'watch';
  }
  let namespace = '';
  if (parts[0] === 'namespaces' && parts.length > 1) {
    namespace = parts[1]!;
    if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2]!)) parts = parts.slice(2);
  }
  const resource = parts[0] ?? '';
  let name = parts[1] ?? '';
  const subresource = parts[2] ?? '';
  if (name === '') {
    if (verb === 'get') verb = queryBool(query.watch) ? 'watch' : 'list';
    if (verb === 'delete') verb = 'deletecollection';
    // A list or watch of one name is authorised as a request for that object (the apiserver does
    // the same), which is how a device may watch its own Mailbox and nothing else.
    if (verb === 'list' || verb === 'watch') name = exactName(query.fieldSelector);
  } else if (verb === 'get' && queryBool(query.watch)) {
    verb = 'watch';
  }
  return {
    user,
    groups,
    device,
    verb,
    resourceRequest: true,
    path,
    apiGroup,
    apiVersion,
    resource,
    subresource,
    namespace,
    name,
  };
}

/**
 * The name a field selector pins with `metadata.name=X` (or `==`), the same
 * parser the list filter uses; '' when it pins none or two different ones.
 * Other terms only narrow the list further, so they never widen what the name
 * allows.
 */
function exactName(value: unknown): string {
  // A repeated parameter arrives as an array; the list joins its terms with commas, and so do we.
  const selector = Array.isArray(value) ? value.join(',') : typeof value === 'string' ? value : '';
  if (!selector) return '';
  let requirements: ReturnType<typeof parseFieldSelector>;
  try {
    requirements = parseFieldSelector(selector);
  } catch (error) {
    if (error instanceof SelectorError) return ''; // the list answers 400 if authorised at all
    throw error;
  }
  const names = new Set(
    requirements.filter((r) => r.field === 'metadata.name' && r.operator === '=').map((r) => r.value),
  );
  return names.size === 1 ? [...names][0]! : '';
}

function decodePath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path; // the router answers a malformed escape with 400 before any handler runs
  }
}
