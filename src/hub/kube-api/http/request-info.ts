import type { KindDefinition, KindRegistry } from '../../../api/index.ts';
import { errors } from '../errors.ts';

/** What a resource URL names. */
export interface ResourceRequest {
  readonly def: KindDefinition;
  readonly namespace?: string;
  readonly name?: string;
  readonly subresource?: 'status';
  /** The deprecated `/watch/` path form. */
  readonly watchPath: boolean;
}

/** Namespace subresources: `/namespaces/NAME/status` names a namespace, not a collection called "status". */
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

/**
 * Parses the part of a resource URL after `/api/v1` or `/apis/GROUP/VERSION`
 * (already percent-decoded), following the apiserver's RequestInfoFactory.
 */
export function parseResourcePath(
  registry: KindRegistry,
  group: string,
  version: string,
  rest: string,
): ResourceRequest {
  // The router has already percent-decoded `rest`; decoding again would turn `%25` into a crash.
  let parts = rest.split('/').filter((part) => part.length > 0);
  let watchPath = false;
  if (parts[0] === 'watch') {
    watchPath = true;
    parts = parts.slice(1);
  }
  let namespace: string | undefined;
  if (parts[0] === 'namespaces' && parts.length > 1) {
    namespace = parts[1];
    if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2]!)) parts = parts.slice(2);
    else namespace = undefined;
  }
  const [plural, name, subresource, ...extra] = parts;
  const def = plural ? registry.byResource(group, version, plural) : undefined;
  if (!def || extra.length > 0) throw errors.notFound({ plural: plural ?? '', group }, name ?? '');
  if (subresource !== undefined && !(subresource === 'status' && def.statusSubresource)) {
    throw errors.notFound(def, `${name}/${subresource}`);
  }
  if (namespace !== undefined && !def.namespaced) throw errors.notFound(def, name ?? '');
  const request: ResourceRequest = { def, watchPath };
  return {
    ...request,
    ...(namespace !== undefined ? { namespace } : {}),
    ...(name !== undefined ? { name } : {}),
    ...(subresource === 'status' ? { subresource: 'status' as const } : {}),
  };
}
