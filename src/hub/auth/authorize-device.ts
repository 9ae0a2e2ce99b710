/**
 * What a device may do, like Kubernetes' Node authorizer: only requests on
 * objects that are its own, listed in {@link DEVICE_RULES}. A device may
 * read its Mailbox (get, or list/watch narrowed to its name with
 * `fieldSelector=metadata.name=NAME`), write its Mailbox's and its Device's
 * status, and read its Device. It can never write its Device's spec (where
 * approval lives), labels or annotations: the main resource is not in the
 * table, and a status write changes nothing but status (ObjectService keeps
 * everything else of the live object). Anything not in the table gets no
 * opinion here, and RBAC (which grants devices only discovery and the
 * self-reviews by default) decides.
 */

import type { RequestAttributes } from './authorize-attributes.ts';
import { DEVICE_USER_PREFIX, DEVICES_GROUP } from './device-identity.ts';

/** Which object a request must name for a rule to apply. */
type Ownership =
  /** The object whose name is the device's own (Device, Mailbox: one per device, same name). */
  'same-name';

/** A request on resources a device may make on its own objects. */
export interface DeviceResourceRule {
  readonly apiGroup: string;
  readonly resource: string;
  /** '' for the main resource. */
  readonly subresource: string;
  readonly verbs: readonly string[];
  readonly owner: Ownership;
}

/**
 * A request on a non-resource path a device may make for itself: `{device}`
 * in the template stands for the device's own name (one path segment); any
 * other `{placeholder}` stands for one non-empty segment (e.g. an id).
 */
export interface DevicePathRule {
  readonly path: string;
  /** Lower-case HTTP methods. */
  readonly verbs: readonly string[];
}

/**
 * Everything a device may do. Agent endpoints added later (heartbeats,
 * telemetry, logs, uploads) go here, each restricted to the device's own
 * name, e.g. `{ path: '/agent/v1/devices/{device}/heartbeats', verbs: ['post'] }`
 * or a `devices/heartbeats` subresource rule.
 */
export const DEVICE_RULES: {
  readonly resources: readonly DeviceResourceRule[];
  readonly paths: readonly DevicePathRule[];
} = {
  resources: [
    {
      apiGroup: 'outpost.dev',
      resource: 'mailboxes',
      subresource: '',
      verbs: ['get', 'list', 'watch'],
      owner: 'same-name',
    },
    {
      apiGroup: 'outpost.dev',
      resource: 'mailboxes',
      subresource: 'status',
      verbs: ['get', 'update', 'patch'],
      owner: 'same-name',
    },
    {
      apiGroup: 'outpost.dev',
      resource: 'devices',
      subresource: '',
      verbs: ['get', 'list', 'watch'],
      owner: 'same-name',
    },
    {
      apiGroup: 'outpost.dev',
      resource: 'devices',
      subresource: 'status',
      verbs: ['get', 'update', 'patch'],
      owner: 'same-name',
    },
  ],
  paths: [
    // Log requests (`outpost logs`): the agent long-polls for them and uploads each answer.
    { path: '/agent/v1/devices/{device}/log-requests', verbs: ['get'] },
    { path: '/agent/v1/devices/{device}/log-requests/{id}', verbs: ['post'] },
    // Data uploads: open (or resume) a session, send chunks, commit.
    { path: '/agent/v1/devices/{device}/uploads', verbs: ['post'] },
    { path: '/agent/v1/devices/{device}/uploads/{id}', verbs: ['put'] },
    { path: '/agent/v1/devices/{device}/uploads/{id}/commit', verbs: ['post'] },
  ],
};

/**
 * The device a caller is, or undefined for a person: only what
 * authentication marked (`device`, set for a valid device certificate alone).
 * A user name or group that looks like a device's counts for nothing here, so
 * that nothing but a device certificate ever gets the device rules (an
 * impersonated `outpost:device:x` would not, were it allowed at all).
 */
export function deviceOf(attributes: Pick<RequestAttributes, 'device'>): string | undefined {
  return attributes.device;
}

/**
 * The device a SubjectAccessReview asks about: its user and groups are read
 * as a device certificate's would be (user `outpost:device:NAME` and group
 * `outpost:devices`), so that an admin can ask what a device may do.
 */
export function deviceNamedBy(user: string, groups: readonly string[]): string | undefined {
  if (!user.startsWith(DEVICE_USER_PREFIX) || !groups.includes(DEVICES_GROUP)) return undefined;
  const name = user.slice(DEVICE_USER_PREFIX.length);
  return name === '' ? undefined : name;
}

/** Whether a device's request is one of its own that {@link DEVICE_RULES} allows. */
export function deviceAllows(
  device: string,
  attributes: RequestAttributes,
  rules: typeof DEVICE_RULES = DEVICE_RULES,
): boolean {
  if (!attributes.resourceRequest) {
    return rules.paths.some(
      (rule) => rule.verbs.includes(attributes.verb) && pathMatches(rule.path, device, attributes.path),
    );
  }
  // Every device object is cluster-scoped: a namespace in the request names something else.
  if (attributes.namespace !== '' || attributes.name !== device) return false;
  return rules.resources.some(
    (rule) =>
      rule.apiGroup === attributes.apiGroup &&
      rule.resource === attributes.resource &&
      rule.subresource === attributes.subresource &&
      rule.verbs.includes(attributes.verb),
  );
}

/** Whether `path` is the rule's template with `{device}` = `device` and other placeholders filled. */
function pathMatches(template: string, device: string, path: string): boolean {
  if (!template.includes('{')) return template === path;
  const want = template.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return false;
  return want.every((part, i) => {
    const segment = got[i]!;
    if (part === '{device}') return segment === device;
    if (part.startsWith('{') && part.endsWith('}')) return segment !== '';
    return segment === part;
  });
}

/** The reason a device's request was refused, appended to the 403 message. */
export function deviceDenialReason(device: string, attributes: RequestAttributes): string {
  if (attributes.resourceRequest && attributes.name !== '' && attributes.name !== device)
    return `device "${device}" may only access its own objects`;
  if (
    attributes.resourceRequest &&
    attributes.name === '' &&
    (attributes.verb === 'list' || attributes.verb === 'watch')
  )
    return `device "${device}" may only list or watch its own objects, with fieldSelector=metadata.name=${device}`;
  return `not allowed for device "${device}"`;
}

/** The device's rules as a rules review lists them. */
export function deviceReviewRules(device: string): {
  resourceRules: Array<{
    verbs: string[];
    apiGroups: string[];
    resources: string[];
    resourceNames: string[];
  }>;
  nonResourceRules: Array<{ verbs: string[]; nonResourceURLs: string[] }>;
} {
  return {
    resourceRules: DEVICE_RULES.resources.map((rule) => ({
      verbs: [...rule.verbs],
      apiGroups: [rule.apiGroup],
      resources: [rule.subresource === '' ? rule.resource : `${rule.resource}/${rule.subresource}`],
      resourceNames: [device],
    })),
    nonResourceRules: DEVICE_RULES.paths.map((rule) => ({
      verbs: [...rule.verbs],
      // Other placeholders end the rule with a `*`, as RBAC writes path prefixes.
      nonResourceURLs: [rule.path.replaceAll('{device}', device).replace(/\{[^}]*\}.*$/, '*')],
    })),
  };
}
