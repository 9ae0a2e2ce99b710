/**
 * The host folders the process runtime makes as mount points: bwrap cannot
 * create a mount point inside a folder the view binds read-only (`/etc/app`
 * inside the read-only `/etc`), so the runtime makes what is missing of such
 * a target on the host, and removes it again once nothing uses it.
 *
 * Several agents may run on one host, each unaware of the others: a folder
 * one agent made may be the mount point of another agent's running
 * container, and removing it would detach that container's volume (Linux
 * detaches mounts in other namespaces when their mount point goes). So each
 * folder made carries a marker file (hidden inside every view by the bind on
 * top of it), any agent may remove a folder that holds only its marker, and
 * none removes one that is a mount point in any mount namespace of the host.
 */
import {
  chmodSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { isWithin } from '../volumes.ts';
import { missingAncestors } from './binds.ts';
import { mountedAnywhere } from './proc.ts';

/** The marker file in each folder made as a mount point (never seen by containers: their volume covers it). */
export const MOUNT_POINT_MARKER = '.outpost-mount-point';

/** Older agents' record of the folders they made, in their runtime folder: still honoured on removal. */
const RECORD = 'mount-targets.json';

/**
 * Makes on the host the missing folders of the `targets` that lie inside a
 * folder of `bound` (those the view binds read-only), 0755 so that unit uids
 * can pass, each with its marker. Synchronous: it runs right before each
 * start of a container (another agent may have removed a folder it made
 * while this one's container was down).
 */
export function ensureMountPoints(targets: readonly string[], bound: readonly string[]): void {
  for (const target of targets) {
    if (!bound.some((folder) => isWithin(target, folder))) continue;
    const missing = missingAncestors(target);
    for (const folder of missing) {
      mkdirSync(folder, { recursive: true });
      chmodSync(folder, 0o755);
      writeFileSync(join(folder, MOUNT_POINT_MARKER), '');
    }
  }
}

/**
 * Removes, for each of `targets` that is neither in `inUse` (this agent's
 * units) nor a mount point anywhere on the host, the folders made for it:
 * from the target up, each folder that holds nothing but its marker (or,
 * made by an older agent, is empty and recorded in `runtimeDir`).
 */
export function removeMountPoints(
  targets: readonly string[],
  inUse: ReadonlySet<string>,
  runtimeDir: string,
): void {
  const busy = new Set([...inUse, ...mountedAnywhere(targets)]);
  const recorded = new Set(Object.values(readRecord(runtimeDir)).flat());
  for (const target of targets) {
    if (busy.has(target)) continue;
    for (let folder = target; folder !== dirname(folder); folder = dirname(folder)) {
      if ([...busy].some((path) => isWithin(path, folder))) break;
      if (!removeIfOnlyMarker(folder, recorded.has(folder))) break;
    }
  }
}

/** Removes `folder` when it holds only its marker (or nothing, when `recorded`); whether it did. */
function removeIfOnlyMarker(folder: string, recorded: boolean): boolean {
  let entries: string[];
  try {
    entries = readdirSync(folder);
  } catch {
    return false;
  }
  const onlyMarker = entries.length === 1 && entries[0] === MOUNT_POINT_MARKER;
  if (!onlyMarker && !(recorded && entries.length === 0)) return false;
  try {
    if (onlyMarker) unlinkSync(join(folder, MOUNT_POINT_MARKER));
    rmdirSync(folder); // only when empty: never deletes what someone put there meanwhile
    return true;
  } catch {
    return false;
  }
}

function readRecord(dir: string): Record<string, string[]> {
  try {
    return JSON.parse(readFileSync(join(dir, RECORD), 'utf8')) as Record<string, string[]>;
  } catch {
    return {};
  }
}
