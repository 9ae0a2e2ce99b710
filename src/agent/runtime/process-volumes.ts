import { existsSync } from 'node:fs';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize, resolve, sep } from 'node:path';
import type { ConfigMap, Secret } from '../../api/index.ts';
import type { ContainerShape, VolumeShape } from './pod-spec.ts';
import { ContainerConfigError, dataOf } from './process-env.ts';

/** A host directory (or file) a container sees at `target`. */
export interface Bind {
  readonly source: string;
  readonly target: string;
  readonly readOnly: boolean;
  /** The pod volume's name (for the fallback's environment variables). */
  readonly volume: string;
}

/** Where the volumes of a unit live on the host. */
export interface VolumeDirs {
  /** Shared by every replica: ConfigMap and Secret volumes. */
  readonly unitDir: string;
  /** One per replica: emptyDir volumes. */
  readonly replicaDir: string;
}

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

/**
 * The binds one container needs: its volumeMounts resolved to host paths
 * (ConfigMap/Secret folders of the unit, emptyDir folders of the replica,
 * hostPath as is). emptyDir folders are created here.
 */
export async function bindsOf(
  container: ContainerShape,
  volumes: readonly VolumeShape[],
  dirs: VolumeDirs,
): Promise<Bind[]> {
  const binds: Bind[] = [];
  for (const mount of container.volumeMounts ?? []) {
    const volume = volumes.find((v) => v.name === mount.name);
    if (!volume) throw new ContainerConfigError(`volumeMount ${mount.name}: no such volume`);
    if (!isAbsolute(mount.mountPath))
      throw new ContainerConfigError(`mountPath ${mount.mountPath} is not absolute`);
    let source: string;
    let readOnly = mount.readOnly ?? false;
    if (volume.configMap || volume.secret) {
      source = join(dirs.unitDir, 'volumes', safeName(volume.name));
      readOnly = true; // Kubernetes mounts them read-only as well
    } else if (volume.emptyDir) {
      source = join(dirs.replicaDir, 'empty', safeName(volume.name));
      await mkdir(source, { recursive: true });
    } else if (volume.hostPath) {
      source = volume.hostPath.path;
    } else {
      throw new ContainerConfigError(
        `volume ${volume.name}: only configMap, secret, emptyDir and hostPath are supported`,
      );
    }
    if (mount.subPath) source = join(source, normalize(mount.subPath).replace(/^(\.\.(\/|$))+/, ''));
    binds.push({ source, target: normalize(mount.mountPath), readOnly, volume: volume.name });
  }
  return binds;
}

/**
 * The folders that do not exist yet on the way to `target`, outermost first:
 * bwrap creates them on the host (its root is a bind of `/`), so the runtime
 * removes them again when no unit needs them.
 */
export function missingAncestors(target: string): string[] {
  const missing: string[] = [];
  let current = normalize(target);
  while (current !== '/' && !existsSync(current)) {
    missing.unshift(current);
    current = dirname(current);
  }
  return missing;
}

/** The environment variable that points to a bind's source when bwrap is not there: OUTPOST_VOLUME_<NAME>. */
export function fallbackVariable(volume: string): string {
  return `OUTPOST_VOLUME_${volume.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}`;
}

/** A volume or container name as a single path segment. */
export function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '_');
}
