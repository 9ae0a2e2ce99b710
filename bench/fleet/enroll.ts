/**
 * Enrolling a simulated fleet the way devices enroll: each device has its
 * own ECDSA P-256 key and sends a CSR with a bootstrap token to
 * `POST /enroll`; the hub creates its Device and signs its certificate.
 *
 * Keys and CSRs do not depend on the hub (only on the device's name), so
 * they are made once and kept in a cache file in the temp dir
 * (`$TMPDIR/outpost-bench-fleet-keys.jsonl`, one `{name, key, csr}` a line)
 * that later runs reuse: making 20,000 takes minutes of the simulator's CPU.
 * The certificates are the hub's and are made anew in every run.
 */
import { appendFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import { createCsr, generateKeyPem } from '../../src/agent/enrollment/index.ts';
import { generateBootstrapToken, hashTokenSecret } from '../../src/api/index.ts';
import type { Credentials } from '../support/index.ts';

/** A simulated device's identity: its name, key and the certificate the hub signed. */
export interface DeviceIdentity {
  readonly name: string;
  readonly keyPem: string;
  readonly certPem: string;
}

interface KeyEntry {
  readonly name: string;
  readonly key: string;
  readonly csr: string;
}

const KEY_CACHE = join(tmpdir(), 'outpost-bench-fleet-keys.jsonl');
const FACTS = {
  hostname: 'sim',
  os: 'linux',
  kernel: '6.1.0-sim',
  architecture: 'arm64',
  cpus: 4,
  memoryBytes: 2 * 1024 ** 3,
  machineId: '0123456789abcdef0123456789abcdef',
};

/** The name of the `i`-th simulated device. */
export const deviceName = (i: number) => `sim-${String(i).padStart(5, '0')}`;

/** Keys and CSRs of devices 0..count-1: from the cache, the missing ones made (and cached) now. */
export async function deviceKeys(count: number): Promise<{ keys: KeyEntry[]; made: number; cpuMs: number }> {
  const cached = new Map<string, KeyEntry>();
  try {
    for (const line of (await readFile(KEY_CACHE, 'utf8')).split('\n')) {
      if (!line) continue;
      try {
        const entry = JSON.parse(line) as KeyEntry;
        cached.set(entry.name, entry);
      } catch {
        // a line cut short by an interrupted run
      }
    }
  } catch {
    // no cache yet
  }
  const keys: KeyEntry[] = [];
  let made = 0;
  const before = process.cpuUsage();
  let batch: string[] = [];
  for (let i = 0; i < count; i++) {
    const name = deviceName(i);
    let entry = cached.get(name);
    if (!entry) {
      const key = await generateKeyPem();
      entry = { name, key, csr: await createCsr(key, name) };
      batch.push(JSON.stringify(entry));
      made++;
      if (batch.length >= 500) {
        await appendFile(KEY_CACHE, `${batch.join('\n')}\n`);
        batch = [];
      }
    }
    keys.push(entry);
  }
  if (batch.length > 0) await appendFile(KEY_CACHE, `${batch.join('\n')}\n`);
  const used = process.cpuUsage(before);
  return { keys, made, cpuMs: (used.user + used.system) / 1000 };
}

/** Creates an auto-approving bootstrap token for a whole fleet (a million uses); returns `<id>.<secret>`. */
export async function createToken(admin: Credentials): Promise<string> {
  const dispatcher = new Agent({ connect: { ca: admin.ca, cert: admin.cert, key: admin.key } });
  try {
    const { id, secret, token } = generateBootstrapToken();
    const created = await dispatcher.request({
      origin: admin.origin,
      method: 'POST',
      path: '/apis/outpost.dev/v1alpha1/bootstraptokens',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        apiVersion: 'outpost.dev/v1alpha1',
        kind: 'BootstrapToken',
        metadata: { name: id },
        spec: { secretHash: hashTokenSecret(secret), approval: 'auto', maxUses: 1_000_000 },
      }),
    });
    const text = await created.body.text();
    if (created.statusCode !== 201) throw new Error(`token create: ${created.statusCode} ${text}`);
    return token;
  } finally {
    await dispatcher.close();
  }
}

/**
 * Enrolls every device with `POST /enroll` (the CA known beforehand, as with
 * `--ca-cert`), `inFlight` at a time over keep-alive connections; returns
 * their identities in order.
 */
export async function enrollFleet(
  origin: string,
  ca: string,
  token: string,
  keys: readonly KeyEntry[],
  inFlight = 32,
): Promise<DeviceIdentity[]> {
  const dispatcher = new Agent({ connect: { ca }, connections: 16, pipelining: 1 });
  const identities: DeviceIdentity[] = new Array(keys.length);
  let next = 0;
  const worker = async () => {
    while (next < keys.length) {
      const i = next++;
      const entry = keys[i]!;
      const response = await dispatcher.request({
        origin,
        method: 'POST',
        path: '/enroll',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token, name: entry.name, csr: entry.csr, facts: FACTS }),
      });
      const text = await response.body.text();
      if (response.statusCode !== 201)
        throw new Error(`enroll ${entry.name}: ${response.statusCode} ${text}`);
      const certificate = (JSON.parse(text) as { certificate?: string }).certificate;
      if (!certificate) throw new Error(`enroll ${entry.name}: no certificate in the answer`);
      identities[i] = { name: entry.name, keyPem: entry.key, certPem: certificate };
    }
  };
  try {
    await Promise.all(Array.from({ length: inFlight }, worker));
  } finally {
    await dispatcher.close();
  }
  return identities;
}
