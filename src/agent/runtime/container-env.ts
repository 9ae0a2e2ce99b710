import type { ConfigMap, Secret } from '../../api/index.ts';
import type { ContainerShape } from './pod-spec.ts';

/** A container whose configuration cannot be built (a missing ConfigMap key, say): Kubernetes' CreateContainerConfigError. */
export class ContainerConfigError extends Error {
  override readonly name = 'ContainerConfigError';
}

/** The data of a ConfigMap or Secret as text values (Secret values decoded from base64). */
export function dataOf(source: ConfigMap | Secret, kind: 'ConfigMap' | 'Secret'): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  const record = source as Record<string, unknown>;
  if (kind === 'ConfigMap') {
    for (const [key, value] of Object.entries((record.data ?? {}) as Record<string, string>))
      out[key] = Buffer.from(value, 'utf8');
    for (const [key, value] of Object.entries((record.binaryData ?? {}) as Record<string, string>))
      out[key] = Buffer.from(value, 'base64');
  } else {
    for (const [key, value] of Object.entries((record.data ?? {}) as Record<string, string>))
      out[key] = Buffer.from(value, 'base64');
    // stringData is write-only in Kubernetes; honour it if a Mailbox still carries it.
    for (const [key, value] of Object.entries((record.stringData ?? {}) as Record<string, string>))
      out[key] = Buffer.from(value, 'utf8');
  }
  return out;
}

/** Where a container's env looks values up. */
export interface EnvSources {
  readonly configMaps: ReadonlyMap<string, ConfigMap>;
  readonly secrets: ReadonlyMap<string, Secret>;
  /** Variables every container gets first (HOSTNAME, the pod's name, ...); the container's own win. */
  readonly base: Readonly<Record<string, string>>;
}

/**
 * The environment of a container as Kubernetes builds it: `envFrom` first
 * (in order, with prefixes), then `env` (in order, `$(VAR)` references
 * expanded against what came before, `valueFrom` ConfigMap and Secret keys).
 * The agent's own environment is not inherited, except PATH.
 *
 * @throws ContainerConfigError for a missing non-optional ConfigMap, Secret or key.
 */
export function buildEnv(container: ContainerShape, sources: EnvSources): Record<string, string> {
  const env: Record<string, string> = { ...sources.base };
  const lookup = (kind: 'ConfigMap' | 'Secret', name: string, optional: boolean | undefined) => {
    const found = kind === 'ConfigMap' ? sources.configMaps.get(name) : sources.secrets.get(name);
    if (!found && !optional) throw new ContainerConfigError(`${kind.toLowerCase()} "${name}" not found`);
    return found ? dataOf(found, kind) : undefined;
  };
  for (const from of container.envFrom ?? []) {
    const data = from.configMapRef
      ? lookup('ConfigMap', from.configMapRef.name, from.configMapRef.optional)
      : from.secretRef
        ? lookup('Secret', from.secretRef.name, from.secretRef.optional)
        : undefined;
    for (const [key, value] of Object.entries(data ?? {}))
      env[`${from.prefix ?? ''}${key}`] = value.toString();
  }
  for (const variable of container.env ?? []) {
    if (variable.valueFrom) {
      const ref = variable.valueFrom.configMapKeyRef ?? variable.valueFrom.secretKeyRef;
      const kind = variable.valueFrom.configMapKeyRef ? 'ConfigMap' : 'Secret';
      if (!ref) continue; // fieldRef / resourceFieldRef: not supported by the process runtime
      const data = lookup(kind, ref.name, ref.optional);
      const value = data?.[ref.key];
      if (value === undefined) {
        if (data && !ref.optional)
          throw new ContainerConfigError(`couldn't find key ${ref.key} in ${kind} ${ref.name}`);
        continue;
      }
      env[variable.name] = value.toString();
    } else {
      env[variable.name] = expand(variable.value ?? '', env);
    }
  }
  return env;
}

/**
 * Expands `$(VAR)` references as Kubernetes does for env values, command and
 * args: known variables are replaced, unknown references stay as written,
 * `$$` escapes a `$`.
 */
export function expand(text: string, env: Readonly<Record<string, string>>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (match, name: string | undefined) => {
    if (match === '$$') return '$';
    return name !== undefined && env[name] !== undefined ? env[name] : match;
  });
}
