/**
 * Pod volumes on the host, as both runtimes need them: the unit's ConfigMap
 * and Secret volumes written out as files, under names safe as one path
 * segment.
 */
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, normalize, resolve, sep } from 'node:path';
import type { ConfigMap, Secret } from '../../api/index.ts';
import { ContainerConfigError, dataOf } from './container-env.ts';
import type { VolumeShape } from './pod-spec.ts';

/**
 * Writes the unit's ConfigMap and Secret volumes as files under
 * `unitDir/volumes/<volume>` (ConfigMap files 0644 in a 0755 folder, Secret
 * files 0600 in a 0700 folder), replacing what was there. Missing
 * non-optional sources throw {@link ContainerConfigError}.
 */
export async function materialiseVolumes(
  volumes: readonly VolumeShape[],
  unitDir: string,
  sources: { configMaps: ReadonlyMap<string, ConfigMap>; secrets: ReadonlyMap<string, Secret> },
): Promise<void> {
  for (const volume of volumes) {
    const isSecret = volume.secret !== undefined;
    const spec = volume.configMap ?? volume.secret;
    if (!spec) continue;
    const sourceName = volume.configMap?.name ?? volume.secret?.secretName ?? '';
    const source = isSecret ? sources.secrets.get(sourceName) : sources.configMaps.get(sourceName);
    const dir = join(unitDir, 'volumes', safeName(volume.name));
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true, mode: isSecret ? 0o700 : 0o755 });
    if (!source) {
      if (spec.optional) continue;
      throw new ContainerConfigError(
        `${isSecret ? 'secret' : 'configmap'} "${sourceName}" of volume ${volume.name} not found`,
      );
    }
    const data = dataOf(source, isSecret ? 'Secret' : 'ConfigMap');
    const items: { key: string; path: string; mode?: number }[] =
      spec.items ?? Object.keys(data).map((key) => ({ key, path: key }));
    for (const item of items) {
      const value = data[item.key];
      if (value === undefined) {
        if (spec.optional) continue;
        throw new ContainerConfigError(`key ${item.key} of volume ${volume.name} not found`);
      }
      const file = resolve(dir, item.path);
      // A path like ../../x must not escape the volume's folder.
      if (!file.startsWith(dir + sep)) throw new ContainerConfigError(`bad item path ${item.path}`);
      await mkdir(dirname(file), { recursive: true, mode: isSecret ? 0o700 : 0o755 });
      const mode = item.mode ?? (isSecret ? 0o600 : 0o644);
      await writeFile(file, value, { mode });
      await chmod(file, mode);
    }
  }
}

/** A volume or container name as a single path segment. */
export function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '_');
}

/** Whether `path` is `dir` or lies under it. */
export function isWithin(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : `${dir}${sep}`);
}

/**
 * Refuses a hostPath volume that would show a hidden folder (the agent's
 * data dir: its keys, its credentials, every unit's Secrets), whole or in
 * part: Pod Security keeps hostPath out of baseline namespaces, and this
 * keeps the data dir out of privileged ones too, whatever reached the
 * Mailbox.
 * @throws ContainerConfigError naming the volume and the folder
 */
export function refuseHiddenHostPath(volume: VolumeShape, hidden: readonly string[]): void {
  if (!volume.hostPath) return;
  const source = normalize(volume.hostPath.path);
  const shown = hidden.find((dir) => isWithin(dir, source) || isWithin(source, dir));
  if (shown)
    throw new ContainerConfigError(
      `volume ${volume.name}: hostPath ${source} would show the agent's data dir ${shown}`,
    );
}
