/**
 * BootstrapToken: a secret that lets a new device enroll (pair) with the hub,
 * in the format of Kubernetes bootstrap tokens (`<id>.<secret>`, six and
 * sixteen characters of `[a-z0-9]`). The object is named by the id and holds
 * only a hash of the secret, so reading it does not give the token away.
 */
import { createHash, createHmac, randomInt, timingSafeEqual } from 'node:crypto';
import Type from 'typebox';
import type { FieldCause, KindDefinition, KubeObject } from './kind.ts';
import { ageColumn, objectSchema, StringMap, Time } from './meta.ts';
import { labelCauses, qualifiedNameProblem } from './validation.ts';

export const BootstrapTokenSchema = objectSchema(
  'outpost.dev/v1alpha1',
  'BootstrapToken',
  'A token that lets devices enroll; named by its id, it stores only the hash of its secret.',
  {
    spec: Type.Object(
      {
        secretHash: Type.String({
          pattern: '^sha256:[0-9a-f]{64}$',
          description: "`sha256:` and the hex SHA-256 of the token's secret part.",
        }),
        expiration: Type.Optional({
          ...Time,
          description: 'When the token stops working; never when absent.',
        }),
        maxUses: Type.Optional(
          Type.Integer({
            minimum: 1,
            description:
              'How many devices may enroll with it. Defaulted to 1 when written without it (a token is single-use unless it says otherwise); a token stored without it counts as single-use too.',
          }),
        ),
        approval: Type.Enum(['auto', 'manual'], {
          description:
            'auto: certificates are signed at once; manual: devices wait for `outpost device approve`.',
        }),
        deviceLabels: Type.Optional({
          ...StringMap,
          description:
            'Labels every Device enrolled with it gets. A device may ask for one of these keys only with the same value.',
        }),
        allowedLabels: Type.Optional(
          Type.Record(Type.String(), Type.Array(Type.String(), { minItems: 1 }), {
            description:
              'The labels a device may ask for at enrollment besides deviceLabels: each key with the values it may take (`*`: any value). A label the token neither sets nor allows is refused, and so the enrollment.',
          }),
        ),
        parent: Type.Optional(
          Type.String({
            minLength: 1,
            description:
              "The gateway Device that devices enrolled with it sit behind (nested networks): their Device's spec.parent. The token printed carries the gateway's proxy URL, through which the agent enrolls.",
          }),
        ),
        level: Type.Optional(
          Type.Integer({
            minimum: 0,
            maximum: 5,
            description: "The spec.level of devices enrolled with it (with parent): below the parent's.",
          }),
        ),
        description: Type.Optional(Type.String({ maxLength: 1024 })),
      },
      { description: 'What the token allows.' },
    ),
    status: Type.Optional(
      Type.Object(
        {
          uses: Type.Optional(Type.Integer({ minimum: 0, description: 'Enrollments that used the token.' })),
          lastUsedTime: Type.Optional({ ...Time, description: 'When the token was last used.' }),
        },
        { description: 'How the token was used; written by the hub.' },
      ),
    ),
  },
);
export type BootstrapToken = Type.Static<typeof BootstrapTokenSchema>;

/** The value in `allowedLabels` that allows any value of its key. */
export const ANY_LABEL_VALUE = '*';

/**
 * The labels of `asked` that the token does not let a device choose, each
 * with why (`role=opcua-gateway (not allowed)`); empty when all are allowed.
 * A label the token sets (`deviceLabels`) is allowed with that value only;
 * any other with a value `allowedLabels` lists for its key, or any value when
 * it lists `*`.
 */
export function refusedLabels(
  asked: Readonly<Record<string, string>>,
  spec: Pick<BootstrapToken['spec'], 'deviceLabels' | 'allowedLabels'>,
): string[] {
  const refused: string[] = [];
  for (const [key, value] of Object.entries(asked)) {
    const pinned = spec.deviceLabels?.[key];
    const allowed = spec.allowedLabels?.[key];
    if (pinned !== undefined) {
      if (value !== pinned) refused.push(`${key}=${value} (the token sets ${key}=${pinned})`);
    } else if (!allowed) refused.push(`${key}=${value} (not allowed)`);
    else if (!allowed.includes(ANY_LABEL_VALUE) && !allowed.includes(value))
      refused.push(`${key}=${value} (allowed: ${key}=${allowed.join('|')})`);
  }
  return refused;
}

/** `allowedLabels` as the CLI writes it: `zone=north|south,role=*`; `<none>` when empty. */
export function allowedLabelsText(allowed: BootstrapToken['spec']['allowedLabels']): string {
  const entries = Object.entries(allowed ?? {}).map(([key, values]) => `${key}=${values.join('|')}`);
  return entries.length > 0 ? entries.join(',') : '<none>';
}

/** A token's `maxUses`, a token stored without one counting as single-use. */
export function maxUsesOf(spec: Pick<BootstrapToken['spec'], 'maxUses'>): number {
  return spec.maxUses ?? 1;
}

/** A token id: six characters of `[a-z0-9]`. */
export const TOKEN_ID = /^[a-z0-9]{6}$/;
const TOKEN = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** A bootstrap token split in its two parts. */
export interface BootstrapTokenParts {
  readonly id: string;
  readonly secret: string;
}

/** Makes a new random token (about 82 bits of secret). */
export function generateBootstrapToken(): BootstrapTokenParts & { readonly token: string } {
  const pick = (n: number) => Array.from({ length: n }, () => ALPHABET[randomInt(ALPHABET.length)]).join('');
  const id = pick(6);
  const secret = pick(16);
  return { id, secret, token: `${id}.${secret}` };
}

/** Splits `<id>.<secret>`; undefined when the text is not a token. */
export function parseBootstrapToken(token: string): BootstrapTokenParts | undefined {
  const match = TOKEN.exec(token.trim());
  return match ? { id: match[1]!, secret: match[2]! } : undefined;
}

/** The `spec.secretHash` of a secret. */
export function hashTokenSecret(secret: string): string {
  return `sha256:${createHash('sha256').update(secret).digest('hex')}`;
}

/** True when `secret` hashes to `secretHash` (compared in constant time). */
export function secretMatches(secret: string, secretHash: string): boolean {
  const expected = Buffer.from(secretHash);
  const actual = Buffer.from(hashTokenSecret(secret));
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/**
 * The signature of the hub's CA certificate that lets a device trust the hub
 * on first contact (as kubeadm's token-signed cluster-info): HMAC-SHA256 of
 * the nonce and the CA PEM, keyed by the secret's hash. The device knows the
 * secret, so it can compute the key; a man in the middle knows neither. The
 * nonce (fresh in every answer) makes every answer differ, so that a random
 * one for an unknown token id looks the same.
 */
export function caSignature(secretHash: string, caPem: string, nonce: string): string {
  return createHmac('sha256', secretHash).update(`${nonce}\n`).update(caPem).digest('hex');
}

function validate(object: KubeObject): FieldCause[] {
  const spec = object.spec as BootstrapToken['spec'] | undefined;
  const name = object.metadata?.name ?? '';
  const causes: FieldCause[] = [];
  if (!TOKEN_ID.test(name))
    causes.push({
      reason: 'FieldValueInvalid',
      field: 'metadata.name',
      message: 'a bootstrap token id is six characters of [a-z0-9]',
    });
  if (spec?.expiration !== undefined && Number.isNaN(Date.parse(spec.expiration)))
    causes.push({ reason: 'FieldValueInvalid', field: 'spec.expiration', message: 'not a date-time' });
  for (const [key, values] of Object.entries(spec?.allowedLabels ?? {})) {
    const field = `spec.allowedLabels[${key}]`;
    const keyProblem = qualifiedNameProblem(key);
    if (keyProblem)
      causes.push({ reason: 'FieldValueInvalid', field, message: `Invalid value: "${key}": ${keyProblem}` });
    if (Array.isArray(values))
      // The value alone is checked here (under a key known to be valid): the key was above.
      for (const value of values)
        if (value !== ANY_LABEL_VALUE) causes.push(...labelCauses({ value }, field));
  }
  return causes;
}

/** Writes without `maxUses` get 1: a token is single-use unless it says otherwise. */
function normalize(object: KubeObject): void {
  const spec = object.spec as Partial<BootstrapToken['spec']> | undefined;
  if (spec && typeof spec === 'object' && spec.maxUses === undefined) spec.maxUses = 1;
}

export const bootstrapTokenKind: KindDefinition = {
  group: 'outpost.dev',
  version: 'v1alpha1',
  kind: 'BootstrapToken',
  plural: 'bootstraptokens',
  singular: 'bootstraptoken',
  shortNames: ['bt'],
  categories: [],
  namespaced: false,
  schema: BootstrapTokenSchema,
  description: 'A token that lets devices enroll; named by its id, it stores only the hash of its secret.',
  statusSubresource: true,
  strategicMergePatch: false,
  validate,
  normalize,
  printerColumns: [
    {
      name: 'Approval',
      type: 'string',
      description: 'auto or manual.',
      cell: (o) => (o.spec as BootstrapToken['spec'])?.approval,
    },
    {
      name: 'Uses',
      type: 'string',
      description: 'Uses so far, of the maximum.',
      cell: (o) =>
        `${(o.status as BootstrapToken['status'])?.uses ?? 0}/${maxUsesOf((o.spec as BootstrapToken['spec']) ?? {})}`,
    },
    {
      name: 'Expires',
      type: 'string',
      description: 'When the token stops working.',
      cell: (o) => (o.spec as BootstrapToken['spec'])?.expiration ?? '<never>',
    },
    ageColumn,
  ],
};
