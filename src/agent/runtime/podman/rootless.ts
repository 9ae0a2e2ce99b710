/**
 * The unprivileged user rootless units run as, and the folders it owns: the
 * user is created on first use (or found, to adopt its units after an agent
 * restart), and every folder its podman reads is given to it.
 */
import { execFile } from 'node:child_process';
import { chmod, chown, mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { lastLine, type RootlessUser } from './exec.ts';

/**
 * Creates (idempotently) the unprivileged user rootless units run as, with
 * a home, subordinate uid/gid ranges (`useradd -m` adds them from
 * login.defs) and its runtime directory; returns its identity. Needs root.
 */
export async function setupRootlessUser(name: string): Promise<RootlessUser> {
  let entry = await passwdEntry(name);
  if (!entry) {
    try {
      await execText('useradd', ['-m', '-s', '/usr/sbin/nologin', '-c', 'Outpost rootless workloads', name]);
    } catch (error) {
      // Another agent process may have created it at the same moment.
      if (!(await passwdEntry(name))) throw new Error(`create rootless user ${name}`, { cause: error });
    }
    entry = await passwdEntry(name);
    if (!entry) throw new Error(`rootless user ${name} missing after useradd`);
  }
  for (const file of ['/etc/subuid', '/etc/subgid']) {
    const ranges = await readFile(file, 'utf8').catch(() => '');
    if (!ranges.split('\n').some((line) => line.startsWith(`${name}:`))) {
      throw new Error(
        `rootless user ${name} has no range in ${file}; add one (usermod --add-subuids/--add-subgids)`,
      );
    }
  }
  const runtimeDir = `/run/user/${entry.uid}`;
  await mkdir(runtimeDir, { recursive: true, mode: 0o700 });
  await chown(runtimeDir, entry.uid, entry.gid);
  await chmod(runtimeDir, 0o700);
  return { name, uid: entry.uid, gid: entry.gid, home: entry.home, runtimeDir };
}

/** The user's identity when it exists (no creation); used to adopt rootless units after a restart. */
export async function findRootlessUser(name: string): Promise<RootlessUser | undefined> {
  const entry = await passwdEntry(name);
  return entry ? setupRootlessUser(name) : undefined;
}

/** Creates `dir` (and parents) owned by `owner` when given: the rootless user's state folder. */
export async function ownedDir(dir: string, owner: RootlessUser | undefined, mode = 0o700): Promise<string> {
  await mkdir(dir, { recursive: true, mode });
  if (owner) await chown(dir, owner.uid, owner.gid);
  return dir;
}

/** The rootless user's folder for one agent's state (unit volumes, containers.conf). */
export function rootlessStateDir(user: RootlessUser, owner: string): string {
  return join(user.home, '.outpost', owner);
}

async function passwdEntry(name: string): Promise<{ uid: number; gid: number; home: string } | undefined> {
  const passwd = await readFile('/etc/passwd', 'utf8');
  for (const line of passwd.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === name && fields.length >= 7) {
      return { uid: Number(fields[2]), gid: Number(fields[3]), home: fields[5] ?? `/home/${name}` };
    }
  }
  return undefined;
}

function execText(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 60_000 }, (error, stdout, stderr) =>
      error
        ? reject(new Error(`${file}: ${lastLine(String(stderr)) || error.message}`))
        : resolve(String(stdout)),
    );
  });
}

/** Gives `dir` and everything under it to `user` (a unit's folder materialised by root, read by its podman). */
export async function chownTree(dir: string, user: RootlessUser): Promise<void> {
  await chown(dir, user.uid, user.gid);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(path, user);
    else await chown(path, user.uid, user.gid);
  }
}
