/**
 * Kubernetes user impersonation (`kubectl --as`, `--as-group`, `--as-uid`):
 * the `Impersonate-User`, `Impersonate-Group`, `Impersonate-Uid` and
 * `Impersonate-Extra-<key>` headers, each value checked as the `impersonate`
 * verb by the authoriser, as the apiserver's impersonation filter does —
 * `users` (or `serviceaccounts` in their namespace) and `groups` in the core
 * group, `uids` and `userextras/<key>` in `authentication.k8s.io`. The request
 * then runs as the impersonated user: every later check (authorisation,
 * admission, the reviews) sees only it.
 *
 * Two rules beyond upstream, because a device's identity must come from its
 * certificate alone:
 * - a device never impersonates, whatever RBAC says (a binding that granted
 *   `impersonate` to `outpost:devices` by mistake changes nothing);
 * - nobody impersonates a device (a user named `outpost:device:*` or the group
 *   `outpost:devices`) or the hub's own writers (`system:outpost:*`): an
 *   impersonated identity is never a device, and such names are refused
 *   rather than silently stripped of what they would mean.
 */
import type { Logger } from 'pino';
import { ApiError, errors } from '../kube-api/index.ts';
import type { Authenticator, Identity } from './authenticate.ts';
import type { Authorizer } from './authorize.ts';
import { forbidden } from './authorize.ts';
import {
  AUTHENTICATED_GROUP,
  type RequestAttributes,
  subjectOf,
  UNAUTHENTICATED_GROUP,
} from './authorize-attributes.ts';
import { claimsDevice } from './device-identity.ts';

/** The user name of unauthenticated callers. */
export const ANONYMOUS_USER = 'system:anonymous';
/** User names of the hub's own writers (e.g. the OPC UA renderer, exempt from Pod Security). */
export const HUB_USER_PREFIX = 'system:outpost:';

const USER_HEADER = 'impersonate-user';
const GROUP_HEADER = 'impersonate-group';
const UID_HEADER = 'impersonate-uid';
const EXTRA_PREFIX = 'impersonate-extra-';
const SERVICE_ACCOUNT_PREFIX = 'system:serviceaccount:';
const AUTHENTICATION_GROUP = 'authentication.k8s.io';

/** What a request asks to act as, read from its headers. */
export interface ImpersonationRequest {
  readonly user: string;
  readonly groups: readonly string[];
  readonly uid?: string;
  readonly extra: Readonly<Record<string, readonly string[]>>;
}

/**
 * Reads the impersonation headers from a request's raw header list (name,
 * value, name, value...: a header sent several times, as `Impersonate-Group`
 * is, keeps every value, commas included). Undefined when there are none.
 * Throws a 400 when groups, a uid or extras are asked for without a user.
 */
export function impersonationOf(rawHeaders: readonly string[]): ImpersonationRequest | undefined {
  let user: string | undefined;
  let uid: string | undefined;
  const groups: string[] = [];
  const extra: Record<string, string[]> = {};
  let any = false;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    if (!name.startsWith('impersonate-')) continue;
    const value = rawHeaders[i + 1]!;
    if (name === USER_HEADER) {
      // As Go's Header.Get: the first value counts; an empty one is no user.
      user ??= value;
    } else if (name === GROUP_HEADER) {
      groups.push(value);
    } else if (name === UID_HEADER) {
      uid ??= value;
    } else if (name.startsWith(EXTRA_PREFIX)) {
      const key = unescapeExtraKey(name.slice(EXTRA_PREFIX.length));
      extra[key] = [...(extra[key] ?? []), value];
    } else {
      continue;
    }
    any = true;
  }
  if (!any) return undefined;
  if (!user) {
    const asked = [
      ...groups.map((g) => `group ${JSON.stringify(g)}`),
      ...(uid ? [`uid ${JSON.stringify(uid)}`] : []),
      ...Object.keys(extra).map((k) => `extra ${JSON.stringify(k)}`),
    ];
    throw errors.badRequest(`requested [${asked.join(', ')}] without impersonating a user`);
  }
  return { user, groups, ...(uid ? { uid } : {}), extra };
}

/**
 * The identity a request runs as once `requester` impersonates what `request`
 * asks for; throws the apiserver's 403 for the first value the requester may
 * not impersonate (`users "bob" is forbidden: User "alice" cannot impersonate
 * resource "users" in API group "" at the cluster scope`).
 *
 * The groups are the ones asked for (a service account's own groups when none
 * are), with `system:authenticated` added unless `system:authenticated` or
 * `system:unauthenticated` is among them (`system:unauthenticated` instead
 * for `system:anonymous`), as upstream. The result remembers who impersonated.
 */
export function impersonate(
  authorizer: Authorizer,
  requester: Identity,
  request: ImpersonationRequest,
): Identity {
  const subject = subjectOf(requester);
  const check = (
    resource: string,
    name: string,
    extra: Partial<Pick<RequestAttributes, 'apiGroup' | 'namespace' | 'subresource'>> = {},
  ) => {
    const attributes: RequestAttributes = {
      ...subject,
      verb: 'impersonate',
      resourceRequest: true,
      path: '',
      apiGroup: extra.apiGroup ?? '',
      apiVersion: 'v1',
      resource,
      subresource: extra.subresource ?? '',
      namespace: extra.namespace ?? '',
      name,
    };
    // Checked before RBAC: no binding, however wrong, lets a device act as anyone else.
    if (subject.device !== undefined || claimsDevice(subject.user, subject.groups))
      throw forbidden(attributes, `device "${subject.device ?? subject.user}" may not impersonate`);
    if (reserved(resource, name))
      throw forbidden(attributes, 'device and hub identities come only from their certificates');
    const decision = authorizer.authorize(attributes);
    if (!decision.allowed) throw forbidden(attributes, decision.reason);
  };

  let groups: string[] = [];
  const serviceAccount = splitServiceAccount(request.user);
  if (serviceAccount) {
    check('serviceaccounts', serviceAccount.name, { namespace: serviceAccount.namespace });
    if (request.groups.length === 0)
      groups = ['system:serviceaccounts', `system:serviceaccounts:${serviceAccount.namespace}`];
  } else {
    check('users', request.user);
  }
  for (const group of request.groups) {
    check('groups', group);
    groups.push(group);
  }
  for (const [key, values] of Object.entries(request.extra)) {
    for (const value of values)
      check('userextras', value, { apiGroup: AUTHENTICATION_GROUP, subresource: key });
  }
  if (request.uid !== undefined) check('uids', request.uid, { apiGroup: AUTHENTICATION_GROUP });

  if (request.user === ANONYMOUS_USER) {
    if (!groups.includes(UNAUTHENTICATED_GROUP)) groups.push(UNAUTHENTICATED_GROUP);
  } else if (!groups.includes(AUTHENTICATED_GROUP) && !groups.includes(UNAUTHENTICATED_GROUP)) {
    groups.push(AUTHENTICATED_GROUP);
  }
  const extra = Object.fromEntries(Object.entries(request.extra).map(([k, v]) => [k, [...v]]));
  return {
    user: request.user,
    groups,
    ...(request.uid !== undefined ? { uid: request.uid } : {}),
    ...(Object.keys(extra).length > 0 ? { extra } : {}),
    impersonator: { user: subject.user, groups: subject.groups },
  };
}

/** Whether a request carries any impersonation header (cheap: it runs on every request). */
export function asksToImpersonate(rawHeaders: readonly string[]): boolean {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    // 'i' or 'I' first, so that nearly every header is passed over without a copy.
    if ((name.charCodeAt(0) | 32) !== 105 || name.length <= 12) continue;
    if (name.slice(0, 12).toLowerCase() === 'impersonate-') return true;
  }
  return false;
}

/** Identities nobody may impersonate: devices (by user or group) and the hub's own writers. */
function reserved(resource: string, name: string): boolean {
  if (resource === 'users') return claimsDevice(name, []) || name.startsWith(HUB_USER_PREFIX);
  if (resource === 'groups') return claimsDevice('', [name]);
  return false;
}

function splitServiceAccount(user: string): { namespace: string; name: string } | undefined {
  if (!user.startsWith(SERVICE_ACCOUNT_PREFIX)) return undefined;
  const parts = user.slice(SERVICE_ACCOUNT_PREFIX.length).split(':');
  if (parts.length !== 2 || !parts[0] || !parts[1]) return undefined;
  return { namespace: parts[0], name: parts[1] };
}

/** Extra keys travel percent-encoded in header names (kubectl escapes what a header name cannot hold). */
function unescapeExtraKey(key: string): string {
  try {
    return decodeURIComponent(key);
  } catch {
    return key;
  }
}

/** What {@link actAs} needs besides the request's headers. */
export interface ActAsOptions {
  readonly authorizer: Authorizer;
  /** Where who impersonated whom is written (info), and refusals (warn). @default not logged */
  readonly audit?: Logger | undefined;
  /** For the audit line. */
  readonly method: string;
  readonly url: string;
}

/**
 * The identity a request runs as: `identity` itself without impersonation
 * headers, else the impersonated one ({@link impersonate}), with an audit
 * line naming both; a refusal (403, 400) is logged and thrown.
 */
export function actAs(identity: Identity, rawHeaders: readonly string[], options: ActAsOptions): Identity {
  if (!asksToImpersonate(rawHeaders)) return identity;
  const path = options.url.split('?', 1)[0];
  let asked: ImpersonationRequest | undefined;
  try {
    asked = impersonationOf(rawHeaders);
    if (!asked) return identity;
    const acting = impersonate(options.authorizer, identity, asked);
    options.audit?.info(
      {
        user: identity.user,
        groups: identity.groups,
        impersonated: { user: acting.user, groups: acting.groups, uid: acting.uid, extra: acting.extra },
        method: options.method,
        path,
      },
      'impersonating',
    );
    return acting;
  } catch (error) {
    if (error instanceof ApiError)
      options.audit?.warn(
        {
          user: identity.user,
          groups: identity.groups,
          asked,
          method: options.method,
          path,
          code: error.code,
        },
        'impersonation refused',
      );
    throw error;
  }
}

/**
 * An authenticator that authenticates nobody who asks to impersonate: for
 * endpoints that do not implement impersonation (the devices' MQTT upgrade),
 * so that the headers are never silently ignored (an admin's `--as` would
 * otherwise connect as the admin).
 */
export function refusingImpersonation(authenticate: Authenticator): Authenticator {
  return (request) => (asksToImpersonate(request.rawHeaders) ? undefined : authenticate(request));
}
