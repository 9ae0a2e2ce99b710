/**
 * `outpost token create|list|revoke`: bootstrap tokens that let devices
 * enroll. The secret is generated here and only its hash is sent to the hub;
 * the token is printed once and cannot be shown again.
 */

import {
  ANY_LABEL_VALUE,
  allowedLabelsText,
  type BootstrapToken,
  type Device,
  gatewayPorts,
  gatewayProxyUrl,
  generateBootstrapToken,
  hashTokenSecret,
  maxUsesOf,
  TOKEN_ID,
} from '../api/index.ts';
import { tokenWithProxy } from '../util/index.ts';
import { parseDuration } from './duration.ts';
import { CliError } from './errors.ts';
import { type ConnectionFlags, connectToHub } from './hub-connection.ts';

const COLLECTION = '/apis/outpost.dev/v1alpha1/bootstraptokens';
const LABEL =
  /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?=(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Options of {@link createToken}. */
export interface CreateTokenOptions extends ConnectionFlags {
  /** Seconds until the token expires. @default 24 hours */
  readonly ttlSeconds?: number;
  /** Labels of every Device enrolled with it. @default {} */
  readonly labels?: Record<string, string>;
  /** Labels a device may ask for: key -> values (`*`: any). @default {}: none */
  readonly allowedLabels?: Record<string, string[]>;
  /** Enrollments allowed. @default 1 */
  readonly maxUses?: number;
  /** @default 'auto' */
  readonly approval?: 'auto' | 'manual';
  readonly description?: string;
  /** The gateway Device the enrolled devices sit behind: the token carries its proxy URL. */
  readonly parent?: string;
  /** Their level. @default one below the parent's */
  readonly level?: number;
}

/**
 * Creates a token on the hub and returns it (`<id>.<secret>`, and with a
 * parent `.<proxy>`: the parent's proxy URL, see util/token-proxy.ts).
 */
export async function createToken(options: CreateTokenOptions): Promise<string> {
  const { id, secret, token } = generateBootstrapToken();
  const expiration = new Date(Date.now() + (options.ttlSeconds ?? 24 * 3600) * 1000);
  const spec: BootstrapToken['spec'] = {
    secretHash: hashTokenSecret(secret),
    expiration: expiration.toISOString().replace(/\.\d+Z$/, 'Z'),
    approval: options.approval ?? 'auto',
    maxUses: options.maxUses ?? 1,
  };
  if (options.labels && Object.keys(options.labels).length > 0) spec.deviceLabels = options.labels;
  if (options.allowedLabels && Object.keys(options.allowedLabels).length > 0)
    spec.allowedLabels = options.allowedLabels;
  if (options.description) spec.description = options.description;
  const hub = await connectToHub(options);
  let proxy: string | undefined;
  try {
    if (options.parent !== undefined) {
      const parent = await gatewayOf(hub, options.parent);
      proxy = parent.proxy;
      spec.parent = options.parent;
      spec.level = options.level ?? parent.level - 1;
      if (spec.level < 0 || spec.level >= parent.level)
        throw new CliError(
          `--level must be below ${options.parent}'s level ${parent.level} (and at least 0), not ${spec.level}`,
        );
    }
    await hub.call('POST', COLLECTION, {
      apiVersion: 'outpost.dev/v1alpha1',
      kind: 'BootstrapToken',
      metadata: { name: id },
      spec,
    });
  } finally {
    await hub.close();
  }
  return proxy ? tokenWithProxy(token, proxy) : token;
}

/**
 * A gateway's proxy URL (from `spec.gateway.address` and `proxyPort`) and level.
 * @throws CliError when it does not exist or declares no address or level.
 */
async function gatewayOf(
  hub: Awaited<ReturnType<typeof connectToHub>>,
  name: string,
): Promise<{ proxy: string; level: number }> {
  const device = await hub
    .call<{ spec?: Device['spec'] }>('GET', `/apis/outpost.dev/v1alpha1/devices/${encodeURIComponent(name)}`)
    .catch((error: Error) => {
      throw new CliError(`--parent ${name}: ${error.message}`);
    });
  const gateway = device.spec?.gateway;
  if (!gateway?.address)
    throw new CliError(
      `--parent ${name}: the device declares no spec.gateway.address (where the level below reaches its proxy)`,
    );
  if (device.spec?.level === undefined)
    throw new CliError(`--parent ${name}: the device declares no spec.level`);
  return {
    proxy: gatewayProxyUrl(gateway.address, gatewayPorts(device.spec).proxyPort),
    level: device.spec.level,
  };
}

/** Parses `k=v,k2=v2` into labels. */
export function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const entry of text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)) {
    if (!LABEL.test(entry))
      throw new CliError(`--labels: ${JSON.stringify(entry)} is not a valid key=value label`);
    const at = entry.indexOf('=');
    labels[entry.slice(0, at)] = entry.slice(at + 1);
  }
  return labels;
}

const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/**
 * Parses `--allow-labels KEY[=VALUE|VALUE...],...`: the labels a device may
 * ask for. `KEY` alone or `KEY=*` allows any value of KEY.
 */
export function parseAllowedLabels(text: string): Record<string, string[]> {
  const allowed: Record<string, string[]> = {};
  for (const entry of text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)) {
    const at = entry.indexOf('=');
    const key = at === -1 ? entry : entry.slice(0, at);
    const values = at === -1 ? [ANY_LABEL_VALUE] : entry.slice(at + 1).split('|');
    if (!LABEL_KEY.test(key) || values.some((value) => value !== ANY_LABEL_VALUE && !LABEL_VALUE.test(value)))
      throw new CliError(
        `--allow-labels: ${JSON.stringify(entry)} is not KEY, KEY=* or KEY=VALUE|VALUE... with valid label keys and values`,
      );
    allowed[key] = [...new Set([...(allowed[key] ?? []), ...values])];
  }
  return allowed;
}

/** The options of `outpost token create`, as commander parses them. */
export interface TokenCreateFlags extends ConnectionFlags {
  ttl: string;
  labels?: string;
  allowLabels?: string;
  maxUses: string;
  approve: string;
  description?: string;
  parent?: string;
  level?: string;
}

/** `outpost token create`: creates a token and prints it. */
export async function runTokenCreate(flags: TokenCreateFlags): Promise<void> {
  if (flags.approve !== 'auto' && flags.approve !== 'manual')
    throw new CliError(`--approve must be auto or manual, not ${JSON.stringify(flags.approve)}`);
  const maxUses = Number(flags.maxUses);
  if (!Number.isSafeInteger(maxUses) || maxUses < 1)
    throw new CliError('--max-uses must be a positive integer');
  const { level, ...rest } = flags;
  const created = await createToken({
    ...rest,
    ttlSeconds: parseDuration(flags.ttl, '--ttl'),
    labels: flags.labels ? parseLabels(flags.labels) : undefined,
    allowedLabels: flags.allowLabels ? parseAllowedLabels(flags.allowLabels) : undefined,
    maxUses,
    approval: flags.approve,
    ...(flags.parent !== undefined ? { parent: flags.parent } : {}),
    ...(level !== undefined ? { level: levelOf(level) } : {}),
  });
  process.stdout.write(`${created}\n`);
}

function levelOf(text: string): number {
  const level = Number(text);
  if (!Number.isInteger(level) || level < 0 || level > 5)
    throw new CliError(`--level must be an ISA-95 level from 0 to 5, not ${JSON.stringify(text)}`);
  return level;
}

/** `outpost token list`: the tokens, never their secrets. */
export async function runTokenList(flags: ConnectionFlags): Promise<void> {
  const hub = await connectToHub(flags);
  try {
    const list = await hub.call<{
      items: {
        metadata: { name: string };
        spec: BootstrapToken['spec'];
        status?: BootstrapToken['status'];
      }[];
    }>('GET', COLLECTION);
    const rows = [['ID', 'APPROVAL', 'USES', 'EXPIRES', 'LABELS', 'ALLOWED LABELS']];
    const now = Date.now();
    for (const item of list.items) {
      const expires = item.spec.expiration;
      const uses = item.status?.uses ?? 0;
      const maxUses = maxUsesOf(item.spec);
      rows.push([
        item.metadata.name,
        item.spec.approval,
        `${uses}/${maxUses}${uses >= maxUses ? ' (used up)' : ''}`,
        expires ? (Date.parse(expires) <= now ? `${expires} (expired)` : expires) : 'never',
        Object.entries(item.spec.deviceLabels ?? {})
          .map(([k, v]) => `${k}=${v}`)
          .join(',') || '<none>',
        allowedLabelsText(item.spec.allowedLabels),
      ]);
    }
    process.stdout.write(table(rows));
  } finally {
    await hub.close();
  }
}

/** `outpost token revoke ID`: deletes the token (ID, or the whole token). */
export async function runTokenRevoke(id: string, flags: ConnectionFlags): Promise<void> {
  const tokenId = id.includes('.') ? id.slice(0, id.indexOf('.')) : id;
  if (!TOKEN_ID.test(tokenId))
    throw new CliError(`${JSON.stringify(id)} is not a token id (six characters of [a-z0-9])`);
  const hub = await connectToHub(flags);
  try {
    await hub.call('DELETE', `${COLLECTION}/${tokenId}`);
  } finally {
    await hub.close();
  }
  process.stdout.write(`token ${tokenId} revoked\n`);
}

/** Left-aligned columns, as kubectl prints them. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const lines = rows.map((row) =>
    row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]! + 3))).join(''),
  );
  return `${lines.join('\n')}\n`;
}
