/**
 * A process container's view of its volumes: each volumeMount resolved to a
 * host path that bwrap binds at the mount path (or, without bwrap, that an
 * environment variable points to).
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize } from 'node:path';
import { ContainerConfigError } from '../container-env.ts';
import type { ContainerShape, VolumeShape } from '../pod-spec.ts';
import { refuseHiddenHostPath, safeName } from '../volumes.ts';

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
  /** Folders no hostPath may show, in part or whole (the agent's data dir). @default none */
  readonly hidden?: readonly string[];
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
      source = normalize(volume.hostPath.path);
      refuseHiddenHostPath(volume, dirs.hidden ?? []);
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
