import Type from 'typebox';
import type { FieldCause, KindDefinition } from './kind.ts';
import { ageColumn, objectSchema, StringMap } from './meta.ts';
import { configKeyCauses } from './names.ts';

export const SecretSchema = objectSchema('v1', 'Secret', 'Secret data for workloads (base64 values).', {
  data: Type.Optional(StringMap),
  stringData: Type.Optional(StringMap),
  type: Type.Optional(Type.String()),
  immutable: Type.Optional(Type.Boolean()),
});
export type Secret = Type.Static<typeof SecretSchema>;

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export const secretKind: KindDefinition = {
  group: '',
  version: 'v1',
  kind: 'Secret',
  plural: 'secrets',
  singular: 'secret',
  namespaced: true,
  schema: SecretSchema,
  description: 'Secret data for workloads (base64 values).',
  statusSubresource: false,
  strategicMergePatch: true,
  printerColumns: [
    { name: 'Type', type: 'string', description: 'Secret type.', cell: (object) => object.type as string },
    {
      name: 'Data',
      type: 'integer',
      description: 'Number of entries.',
      cell: (object) => Object.keys((object.data as object | undefined) ?? {}).length,
    },
    ageColumn,
  ],
  // stringData is write-only: folded into data (base64) as the apiserver does.
  normalize(object) {
    const secret = object as Secret & typeof object;
    // Only a map of strings is folded; anything else is left for validation to refuse.
    const isMap = (value: unknown): value is Record<string, unknown> =>
      typeof value === 'object' && value !== null && !Array.isArray(value);
    const stringData: unknown = secret.stringData;
    if (
      isMap(stringData) &&
      Object.values(stringData).every((value) => typeof value === 'string') &&
      (secret.data === undefined || isMap(secret.data))
    ) {
      const data = { ...(secret.data ?? {}) };
      for (const [key, value] of Object.entries(stringData)) {
        // defineProperty, not assignment: a key named `__proto__` must stay a key.
        Object.defineProperty(data, key, {
          value: Buffer.from(value as string, 'utf8').toString('base64'),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      secret.data = data;
      delete secret.stringData;
    }
    if (secret.type === undefined) secret.type = 'Opaque';
  },
  validate(object) {
    const causes: FieldCause[] = configKeyCauses(object.data, 'data');
    for (const [key, value] of Object.entries((object.data as Record<string, unknown> | undefined) ?? {})) {
      if (typeof value === 'string' && (value.length % 4 !== 0 || !BASE64.test(value))) {
        causes.push({
          reason: 'FieldValueInvalid',
          field: `data[${key}]`,
          message: 'Invalid value: must be base64',
        });
      }
    }
    return causes;
  },
};
