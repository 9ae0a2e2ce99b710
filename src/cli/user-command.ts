/**
 * `outpost user create NAME [--group G ...]`: issues a client certificate for
 * a person, signed by the hub's CA, and writes a kubeconfig for it.
 * `outpost user token NAME --ttl 8h [--group G ...]`: issues a bearer token
 * for a person (the dashboard from a browser, remote scripts), signed by the
 * same CA key. Run on the hub's machine, with the hub's data dir (the CA key
 * never leaves it). What the user may do is RBAC's: bind a role to the user
 * or to a group.
 */
import { generateKeyPairSync } from 'node:crypto';
import { access, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DEVICE_USER_PREFIX, DEVICES_GROUP, signUserToken } from '../hub/auth/index.ts';
import { issueCertificate, loadCertificateAuthority, writeKubeconfig } from '../hub/pki/index.ts';
import { parseDuration } from './duration.ts';
import { CliError } from './errors.ts';
import { loadKubeconfig } from './kubeconfig.ts';

/** Options of {@link createUser}. */
export interface CreateUserOptions {
  /** The user name (the certificate's CN). */
  readonly name: string;
  /** Groups (the certificate's O entries). @default [] */
  readonly groups?: readonly string[];
  /** The hub's data dir, holding `pki/ca.crt`, `pki/ca.key` and `admin.kubeconfig`. */
  readonly dataDir: string;
  /** Where to write the kubeconfig. @default ./NAME.kubeconfig */
  readonly out?: string;
  /** The hub's URL. @default the server of DIR/admin.kubeconfig */
  readonly server?: string;
  /** Certificate lifetime in seconds. @default 365 days */
  readonly lifetimeSeconds?: number;
}

/**
 * Issues the certificate and writes the kubeconfig (mode 0600); returns its path.
 * @throws CliError for a device name or group, or a data dir without a hub's PKI.
 */
export async function createUser(options: CreateUserOptions): Promise<string> {
  const groups = [...new Set(options.groups ?? [])];
  checkName(options.name, groups);
  const [caCert, caKey] = await readCa(options.dataDir);
  const server = options.server ?? (await serverOf(options.dataDir));
  const ca = await loadCertificateAuthority(caCert!, caKey!);
  // The key is made here, on the hub's machine, and written only into the kubeconfig.
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const clientCert = await issueCertificate(ca, {
    commonName: options.name,
    organizations: groups,
    publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    lifetimeSeconds: options.lifetimeSeconds ?? 365 * 86400,
    usage: 'client',
  });
  const out = resolve(options.out ?? `${options.name.replace(/[^A-Za-z0-9._-]/g, '_')}.kubeconfig`);
  await writeKubeconfig(out, {
    server,
    caCert: ca.certPem,
    clientCert,
    clientKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    user: options.name,
  });
  return out;
}

async function readCa(dataDir: string): Promise<string[]> {
  const pki = join(dataDir, 'pki');
  return Promise.all(
    ['ca.crt', 'ca.key'].map((file) =>
      readFile(join(pki, file), 'utf8').catch(() => {
        throw new CliError(`${join(pki, file)} cannot be read: is ${dataDir} a hub's data dir?`);
      }),
    ),
  );
}

/** Options of {@link createUserToken}. */
export interface CreateUserTokenOptions {
  /** The user name, as a certificate's CN. */
  readonly name: string;
  /** Groups, as a certificate's O entries. @default [] */
  readonly groups?: readonly string[];
  /** The hub's data dir, holding `pki/ca.key`. */
  readonly dataDir: string;
  /** Lifetime in seconds. */
  readonly lifetimeSeconds: number;
  /** @default Date.now */
  readonly now?: () => number;
}

/**
 * Signs a bearer token for a person with the hub's CA key.
 * @throws CliError for a device name or group, or a data dir without a hub's PKI.
 */
export async function createUserToken(options: CreateUserTokenOptions): Promise<string> {
  const groups = [...new Set(options.groups ?? [])];
  checkName(options.name, groups);
  const [, caKey] = await readCa(options.dataDir);
  const iat = Math.floor((options.now ?? Date.now)() / 1000);
  return signUserToken({ sub: options.name, groups, iat, exp: iat + options.lifetimeSeconds }, caKey!);
}

function checkName(name: string, groups: readonly string[]): void {
  if (name.trim() === '' || name !== name.trim())
    throw new CliError('the user name must be non-empty, without surrounding spaces');
  // Device identities come from enrollment only; the hub refuses people who claim one.
  if (name.startsWith(DEVICE_USER_PREFIX) || groups.includes(DEVICES_GROUP))
    throw new CliError(
      `user names starting with ${DEVICE_USER_PREFIX} and the group ${DEVICES_GROUP} are for devices`,
    );
  for (const group of groups) if (group.trim() === '') throw new CliError('a group name must be non-empty');
}

async function serverOf(dataDir: string): Promise<string> {
  const path = join(dataDir, 'admin.kubeconfig');
  try {
    await access(path);
  } catch {
    throw new CliError(`${path} does not exist: start the hub once, or pass --server URL`);
  }
  return (await loadKubeconfig(path)).server;
}

/** The options of `outpost user create`, as commander parses them. */
export interface UserCreateFlags {
  group: string[];
  dataDir: string;
  out?: string;
  server?: string;
  ttl: string;
}

/** `outpost user create NAME`: writes the kubeconfig and says where. */
export async function runUserCreate(name: string, flags: UserCreateFlags): Promise<void> {
  const path = await createUser({
    name,
    groups: flags.group,
    dataDir: flags.dataDir,
    out: flags.out,
    server: flags.server,
    lifetimeSeconds: parseDuration(flags.ttl, '--ttl'),
  });
  const groups = flags.group.length > 0 ? ` (groups: ${flags.group.join(', ')})` : '';
  process.stdout.write(`user ${name}${groups}: kubeconfig written to ${path}\n`);
}

/** The options of `outpost user token`, as commander parses them. */
export interface UserTokenFlags {
  group: string[];
  dataDir: string;
  ttl: string;
}

/** `outpost user token NAME`: prints the token alone on stdout (for `$(...)`), its expiry on stderr. */
export async function runUserToken(name: string, flags: UserTokenFlags): Promise<void> {
  const lifetimeSeconds = parseDuration(flags.ttl, '--ttl');
  const token = await createUserToken({ name, groups: flags.group, dataDir: flags.dataDir, lifetimeSeconds });
  process.stdout.write(`${token}\n`);
  const until = new Date(Date.now() + lifetimeSeconds * 1000).toISOString();
  process.stderr.write(`token for user ${name}, valid until ${until}\n`);
}
