/**
 * People for the RBAC tests: users made with `outpost user create`, kubectl as
 * one of them, and the checks on what kubectl answered.
 */
import assert from 'node:assert/strict';
import { basename, join } from 'node:path';
import type { ApiClient } from './https-client.ts';
import { type CommandResult, type HubProcess, kubectl, OUTPOST_BIN, run } from './hub-process.ts';

/** A person's kubeconfig, as `kubectl` takes it. */
export interface User {
  readonly kubeconfig: string;
}

/** Creates a user (client certificate CN = name, O = groups) with `outpost user create`. */
export async function createUser(hub: HubProcess, name: string, groups: readonly string[]): Promise<User> {
  const kubeconfig = join(hub.dataDir, `${name}.kubeconfig`);
  const args = [OUTPOST_BIN, 'user', 'create', name, '--data-dir', hub.dataDir, '--out', kubeconfig];
  for (const group of groups) args.push('--group', group);
  const created = await run(process.execPath, args);
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stdout, /kubeconfig written to/);
  return { kubeconfig };
}

/** Binds the built-in `outpost:workload-team` role to `group` in `namespace` (a RoleBinding named after the group), as the admin. */
export async function bindWorkloadTeam(hub: HubProcess, namespace: string, group: string): Promise<void> {
  await succeeds(
    kubectl(hub, [
      'create',
      'rolebinding',
      group,
      '-n',
      namespace,
      '--clusterrole=outpost:workload-team',
      `--group=${group}`,
    ]),
    'bind the workload-team role',
  );
}

/** kubectl as `who`, with a discovery cache of its own (a shared one would mix users' views). */
export function kubectlAs(
  hub: HubProcess,
  who: User,
  args: string[],
  input?: string,
): Promise<CommandResult> {
  return kubectl(
    who,
    ['--cache-dir', join(hub.dataDir, `cache-${basename(who.kubeconfig)}`), ...args],
    input,
  );
}

/** Asserts the command succeeded; returns its stdout. */
export async function succeeds(result: Promise<CommandResult>, what: string): Promise<string> {
  const done = await result;
  assert.equal(done.code, 0, `${what}: ${done.stderr}`);
  return done.stdout;
}

/** Asserts the command was refused as forbidden (403); returns its stderr. */
export async function forbidden(result: Promise<CommandResult>, what: string): Promise<string> {
  const done = await result;
  assert.notEqual(done.code, 0, `${what} should have been refused: ${done.stdout}`);
  assert.match(done.stderr, /forbidden/i, what);
  return done.stderr;
}

/** Polls a GET until it answers `status` or `deadline` (epoch ms, three seconds from now by default) passes. */
export async function pollStatus(
  client: ApiClient,
  path: string,
  status: number,
  deadline = Date.now() + 3000,
): Promise<boolean> {
  for (;;) {
    if ((await client.request('GET', path)).status === status) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
