/**
 * Enrollment and a device's requests: the CLI's token and device commands, raw
 * enrollment requests with hand-made CSRs, devices enrolled with the agent's own
 * client, and watches with a device's certificate.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import {
  createCsr,
  type DeviceCredentials,
  enroll,
  generateKeyPem,
} from '../../src/agent/enrollment/index.ts';
import { type HubProcess, OUTPOST_BIN, run, tempDir } from './hub-process.ts';

/** Runs `outpost ARGS --data-dir <hub's>` and returns its output; throws on a non-zero exit. */
export async function outpost(hub: HubProcess, args: readonly string[]): Promise<string> {
  const result = await run(process.execPath, [OUTPOST_BIN, ...args, '--data-dir', hub.dataDir]);
  if (result.code !== 0)
    throw new Error(`outpost ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
  return result.stdout;
}

/** Creates a token with `outpost token create` and returns it. */
export async function createToken(hub: HubProcess, args: readonly string[] = []): Promise<string> {
  return (await outpost(hub, ['token', 'create', ...args])).trim();
}

/** Facts as an agent sends them. */
export const FACTS = {
  hostname: 'gw-host',
  os: 'linux',
  architecture: 'amd64',
  cpus: 2,
  memoryBytes: 4 * 1024 ** 3,
  machineId: '0123456789abcdef0123456789abcdef',
};

/** A valid enrollment body for `name` with a fresh key (returned too). */
export async function enrollBody(token: string, name: string, csrName = name) {
  const keyPem = await generateKeyPem();
  return { keyPem, body: { token, name, csr: await createCsr(keyPem, csrName), facts: { ...FACTS } } };
}

/** Sends a raw request to the hub, trusting its CA, optionally with a client certificate. */
export async function hubRequest(
  hub: HubProcess,
  method: 'GET' | 'POST',
  path: string,
  options: { body?: unknown; cert?: string; key?: string } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const ca = await readFile(join(hub.dataDir, 'pki', 'ca.crt'), 'utf8');
  const dispatcher = new Agent({ connect: { ca, cert: options.cert, key: options.key } });
  try {
    const response = await request(`${hub.url}${path}`, {
      method,
      dispatcher,
      headers: { 'content-type': 'application/json' },
      // A string is sent as it is (to send bodies that are not JSON).
      body:
        options.body === undefined
          ? undefined
          : typeof options.body === 'string'
            ? options.body
            : JSON.stringify(options.body),
    });
    const text = await response.body.text();
    return { status: response.statusCode, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  } finally {
    await dispatcher.close();
  }
}

/** An open watch of a device's own Mailbox, made with the device's credentials of the moment. */
export interface DeviceWatch {
  /** Event lines received so far. */
  readonly events: string[];
  /** Settles when the stream ends (closed by the hub or destroyed), with the time it ended. */
  readonly ended: Promise<number>;
  close(): Promise<void>;
}

/** Opens `GET mailboxes?watch=1&fieldSelector=metadata.name=NAME` with `credentials`. */
export async function watchOwnMailbox(credentials: DeviceCredentials): Promise<DeviceWatch> {
  const dispatcher = new Agent({
    connect: { ca: credentials.caPem, cert: credentials.certPem, key: credentials.keyPem },
  });
  const response = await request(
    `${credentials.hubUrl}/apis/outpost.dev/v1alpha1/mailboxes?watch=1&fieldSelector=metadata.name%3D${credentials.name}`,
    { method: 'GET', dispatcher },
  );
  if (response.statusCode !== 200)
    throw new Error(`watch answered ${response.statusCode}: ${await response.body.text()}`);
  const events: string[] = [];
  let buffer = '';
  const ended = new Promise<number>((resolve) => {
    response.body.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let newline = buffer.indexOf('\n');
      while (newline >= 0) {
        events.push(buffer.slice(0, newline));
        buffer = buffer.slice(newline + 1);
        newline = buffer.indexOf('\n');
      }
    });
    response.body.on('error', () => resolve(Date.now()));
    response.body.on('end', () => resolve(Date.now()));
    response.body.on('close', () => resolve(Date.now()));
  });
  return {
    events,
    ended,
    async close() {
      response.body.destroy();
      await dispatcher.destroy();
    },
  };
}

/** The label that places the tests' connectors (see `createConnector` in telemetry.ts) on a device. */
export const PLACED_LABEL = 'telemetry-test/placed';

/**
 * Enrolls device `name` with an auto-approving token (giving it `labels`, by default the one that
 * places the tests' connectors on it); returns its credentials.
 */
export async function enrollDevice(
  hub: HubProcess,
  name: string,
  dirs: string[],
  labels: Readonly<Record<string, string>> = { [PLACED_LABEL]: 'yes' },
): Promise<DeviceCredentials> {
  const entries = Object.entries(labels).map(([key, value]) => `${key}=${value}`);
  const token = await createToken(hub, entries.length > 0 ? ['--labels', entries.join(',')] : []);
  const dir = await tempDir('outpost-device-');
  dirs.push(dir);
  return enroll({ hubUrl: hub.url, token, name, dataDir: dir, facts: FACTS });
}
