/**
 * `outpost objects ls|get|rm`: the files devices' workloads uploaded,
 * through the hub's `devices/objects` subresource in a namespace (so a
 * team's RoleBinding shows it its namespace's objects and nothing else).
 * Paths are `DEVICE/WORKLOAD/PATH` within the namespace (`-n`).
 */
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { request } from 'undici';
import { objectPathProblem } from '../api/index.ts';
import { CliError } from './errors.ts';
import { type ConnectionFlags, openHubTransport, statusMessage } from './hub-connection.ts';

const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** The options every `outpost objects` command has. */
export interface ObjectsFlags extends ConnectionFlags {
  namespace: string;
}

interface Item {
  path: string;
  size: number;
  sha256: string;
  modified: string;
}

/** Splits `DEVICE[/PATH]`, checking both parts. */
function split(target: string, needPath: boolean): { device: string; path: string } {
  const slash = target.indexOf('/');
  const device = slash < 0 ? target : target.slice(0, slash);
  const path = slash < 0 ? '' : target.slice(slash + 1).replace(/\/$/, '');
  if (!NAME.test(device)) throw new CliError(`${JSON.stringify(device)} is not a device name`);
  if (needPath && !path.includes('/'))
    throw new CliError(`${JSON.stringify(target)} must be DEVICE/WORKLOAD/PATH`);
  if (path) {
    const problem = objectPathProblem(path);
    if (problem) throw new CliError(`the object path ${JSON.stringify(path)} ${problem}`);
  }
  return { device, path };
}

function base(flags: ObjectsFlags, device: string): string {
  if (!NAME.test(flags.namespace))
    throw new CliError(`${JSON.stringify(flags.namespace)} is not a namespace name`);
  return `/apis/outpost.dev/v1alpha1/namespaces/${flags.namespace}/devices/${device}/objects`;
}

const encodePath = (path: string) => path.split('/').map(encodeURIComponent).join('/');

async function call(flags: ObjectsFlags, method: 'GET' | 'DELETE', path: string) {
  const { server, dispatcher, headers } = await openHubTransport(flags);
  try {
    return {
      response: await request(`${server}${path}`, { method, dispatcher, headers: { ...headers } }),
      dispatcher,
    };
  } catch (cause) {
    await dispatcher.close();
    throw new CliError(`cannot reach the hub at ${server}: ${(cause as Error).message}`);
  }
}

/** `outpost objects ls [DEVICE[/PATH]]`: one line per object (size, modified, DEVICE/PATH). */
export async function runObjectsList(target: string | undefined, flags: ObjectsFlags): Promise<void> {
  const devices = target
    ? [split(target, false)]
    : (await deviceNames(flags)).map((device) => ({ device, path: '' }));
  const lines: string[] = [];
  for (const { device, path } of devices) {
    const query = path ? `?prefix=${encodeURIComponent(path)}` : '';
    const { response, dispatcher } = await call(flags, 'GET', `${base(flags, device)}${query}`);
    try {
      if (response.statusCode !== 200) throw new CliError(await statusMessage(response));
      const { items } = (await response.body.json()) as { items: Item[] };
      for (const item of items)
        lines.push(`${String(item.size).padStart(12)}  ${item.modified}  ${device}/${item.path}`);
    } finally {
      await dispatcher.close();
    }
  }
  process.stdout.write(lines.length ? `${lines.join('\n')}\n` : '');
}

/** Every device's name (for `ls` without a device): needs `list devices`, as `kubectl get devices` does. */
async function deviceNames(flags: ObjectsFlags): Promise<string[]> {
  const { response, dispatcher } = await call(flags, 'GET', '/apis/outpost.dev/v1alpha1/devices');
  try {
    if (response.statusCode !== 200)
      throw new CliError(`${await statusMessage(response)} (name a device: outpost objects ls DEVICE)`);
    const { items } = (await response.body.json()) as { items: Array<{ metadata: { name: string } }> };
    return items.map((item) => item.metadata.name);
  } finally {
    await dispatcher.close();
  }
}

/** `outpost objects get DEVICE/WORKLOAD/PATH [-o FILE]`, with a progress line on stderr for large files. */
export async function runObjectsGet(
  target: string,
  flags: ObjectsFlags & { output?: string },
): Promise<void> {
  const { device, path } = split(target, true);
  const { response, dispatcher } = await call(flags, 'GET', `${base(flags, device)}/${encodePath(path)}`);
  try {
    if (response.statusCode !== 200) throw new CliError(await statusMessage(response));
    const total = Number(response.headers['content-length'] ?? 0);
    let received = 0;
    let shown = -1;
    const showProgress = flags.output !== undefined && process.stderr.isTTY && total > 8 * 1024 * 1024;
    const progress = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        received += chunk.length;
        const percent = total ? Math.floor((received / total) * 100) : 0;
        if (showProgress && percent !== shown) {
          shown = percent;
          const bar = '#'.repeat(Math.floor(percent / 5)).padEnd(20, '.');
          process.stderr.write(`\r[${bar}] ${percent}% ${received}/${total} bytes`);
        }
        done(null, chunk);
      },
    });
    if (flags.output) {
      // Written beside the file and renamed: an interrupted download leaves no half file under the name.
      const temporary = `${flags.output}.part`;
      try {
        await pipeline(response.body, progress, createWriteStream(temporary));
        await rename(temporary, flags.output);
      } catch (error) {
        await rm(temporary, { force: true });
        throw new CliError(`download of ${target} failed: ${(error as Error).message}`);
      }
      if (showProgress) process.stderr.write('\n');
    } else await pipeline(response.body, progress, process.stdout);
  } finally {
    await dispatcher.close();
  }
}

/** `outpost objects rm DEVICE/WORKLOAD/PATH`. */
export async function runObjectsRemove(target: string, flags: ObjectsFlags): Promise<void> {
  const { device, path } = split(target, true);
  const { response, dispatcher } = await call(flags, 'DELETE', `${base(flags, device)}/${encodePath(path)}`);
  try {
    if (response.statusCode !== 200) throw new CliError(await statusMessage(response));
    await response.body.dump();
    process.stdout.write(`object ${target} removed\n`);
  } finally {
    await dispatcher.close();
  }
}
