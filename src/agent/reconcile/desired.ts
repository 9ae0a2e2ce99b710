import { hash } from 'node:crypto';
import type { ConfigMap, MailboxObject, ObjectRef, Secret } from '../../api/index.ts';
import { type DesiredUnit, isUnitKind, podSpecOf, referencesOf, unitIdOf } from '../runtime/index.ts';
import { withUploadMounts } from '../uploads/index.ts';

/**
 * An annotation that asks for a rootless unit, object by object. The hub marks
 * the objects of a `rootless: true` Workload with the Mailbox object's own
 * `rootless` field; the annotation remains for objects placed by other means.
 */
export const ROOTLESS_ANNOTATION = 'outpost.dev/rootless';

/** The Mailbox's objects split into units to run and data objects (ConfigMaps, Secrets). */
export interface DesiredState {
  readonly units: DesiredUnit[];
  /** ConfigMaps and Secrets (and kinds the agent does not run), reported as stored. */
  readonly data: MailboxObject[];
}

/** The identity of a Mailbox object on the device. */
export function refOf(entry: Pick<MailboxObject, 'object'>): ObjectRef {
  const { apiVersion, kind, metadata } = entry.object;
  return {
    apiVersion,
    kind,
    ...(metadata.namespace ? { namespace: metadata.namespace } : {}),
    name: metadata.name ?? '',
  };
}

/**
 * Builds the units of a Mailbox: each Pod, Deployment and StatefulSet with
 * the ConfigMaps and Secrets of its namespace that it references, and a
 * hash over all of them (so a changed ConfigMap replaces the units using
 * it, and nothing else does). Deterministic: equal Mailboxes give equal units.
 */
export function desiredStateOf(
  objects: readonly MailboxObject[],
  options: { readonly uploadsDir?: string } = {},
): DesiredState {
  const configMaps = new Map<string, MailboxObject>();
  const secrets = new Map<string, MailboxObject>();
  const data: MailboxObject[] = [];
  for (const entry of objects) {
    const key = `${entry.object.metadata.namespace ?? ''}/${entry.object.metadata.name ?? ''}`;
    if (entry.object.kind === 'ConfigMap') configMaps.set(key, entry);
    else if (entry.object.kind === 'Secret') secrets.set(key, entry);
    if (!isUnitKind(entry.object.kind)) data.push(entry);
  }
  const units: DesiredUnit[] = [];
  for (const entry of objects) {
    if (!isUnitKind(entry.object.kind)) continue;
    const ref = refOf(entry);
    const namespace = ref.namespace ?? '';
    const refs = referencesOf(podSpecOf(entry.object).spec);
    const parts = [entry.hash];
    const pick = <T>(names: Set<string>, from: Map<string, MailboxObject>, tag: string) => {
      const found = new Map<string, T>();
      for (const name of [...names].sort()) {
        const hit = from.get(`${namespace}/${name}`);
        parts.push(`${tag}:${name}:${hit?.hash ?? '-'}`);
        if (hit) found.set(name, hit.object as T);
      }
      return found;
    };
    const unitConfigMaps = pick<ConfigMap>(refs.configMaps, configMaps, 'cm');
    const unitSecrets = pick<Secret>(refs.secrets, secrets, 'secret');
    const rootless =
      entry.rootless === true ||
      (entry.object.metadata as { annotations?: Record<string, string> }).annotations?.[
        ROOTLESS_ANNOTATION
      ] === 'true';
    parts.push(`rootless:${rootless}`);
    units.push({
      id: unitIdOf(entry.source, ref),
      source: entry.source,
      ref,
      // Upload directories are mounted like volumes (their place is fixed, so the hash stays the hub's).
      object:
        entry.uploads?.length && options.uploadsDir
          ? withUploadMounts(entry.object, options.uploadsDir, entry.source, entry.uploads)
          : entry.object,
      objectHash: entry.hash,
      hash: `sha256:${hash('sha256', parts.join('\n'), 'hex').slice(0, 32)}`,
      configMaps: unitConfigMaps,
      secrets: unitSecrets,
      rootless,
      ...(entry.retry ? { retry: entry.retry } : {}),
      ...(entry.cron ? { cron: entry.cron } : {}),
      ...(entry.updateWindow ? { updateWindow: entry.updateWindow } : {}),
    });
  }
  return { units, data };
}
