/**
 * Fixtures of the apply engine's tests (`*.fixture.ts`: imported by tests only): a small kind schema with the Kubernetes extensions, and a simulated object that
 * managers apply to and update, keeping managedFields as the hub would.
 */
import { applyConfiguration } from './apply.ts';
import { FieldSet } from './fieldset.ts';
import type { ManagedFieldsEntry } from './managed-fields.ts';
import { formatPath } from './path.ts';
import { recordUpdate } from './record-update.ts';
import { schemaInfoFrom } from './schema-info.ts';
import type { JsonObject } from './shape.ts';

export const API_VERSION = 'outpost.dev/v1alpha1';

const str = { type: 'string' };

/** A Deployment-like kind: every merge rule appears once. */
export const widgetSchema = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: str,
    kind: str,
    metadata: { type: 'object' },
    spec: {
      type: 'object',
      properties: {
        replicas: { type: 'integer' },
        paused: { type: 'boolean' },
        selector: {
          type: 'object',
          'x-kubernetes-map-type': 'atomic',
          properties: { matchLabels: { type: 'object', additionalProperties: str } },
        },
        strategy: { type: 'object', properties: { type: str, maxSurge: { type: 'integer' } } },
        args: { type: 'array', items: str },
        tags: { type: 'array', items: str, 'x-kubernetes-list-type': 'set' },
        containers: {
          type: 'array',
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['name'],
          items: {
            type: 'object',
            required: ['name'],
            properties: {
              name: str,
              image: str,
              ports: {
                type: 'array',
                'x-kubernetes-list-type': 'map',
                'x-kubernetes-list-map-keys': ['containerPort', 'protocol'],
                items: {
                  type: 'object',
                  properties: {
                    containerPort: { type: 'integer' },
                    protocol: { type: 'string', default: 'TCP' },
                  },
                },
              },
            },
          },
        },
        config: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
      },
    },
    status: { type: 'object', properties: { ready: { type: 'integer' }, phase: str } },
  },
};

export const schema = schemaInfoFrom(widgetSchema);

/** An apply configuration for widget `w` with this spec (and extra top-level parts). */
export function widget(spec?: JsonObject, extra: JsonObject = {}): JsonObject {
  const { metadata, ...rest } = extra;
  return {
    apiVersion: API_VERSION,
    kind: 'Widget',
    metadata: { name: 'w', namespace: 'ns', ...(metadata as JsonObject | undefined) },
    ...(spec ? { spec } : {}),
    ...rest,
  };
}

/** One object written by several managers through apply and plain updates, with a ticking clock. */
export class Sim {
  object: JsonObject | undefined;
  #tick = 0;

  constructor(object?: JsonObject) {
    this.object = object;
  }

  now(): Date {
    this.#tick += 1;
    return new Date(Date.UTC(2025, 0, 1, 0, 0, this.#tick));
  }

  apply(manager: string, config: JsonObject, force = false) {
    const result = applyConfiguration({
      live: this.object,
      applied: config,
      manager,
      force,
      schema,
      now: this.now(),
    });
    this.object = result.object;
    return result;
  }

  /** A plain write (update or patch) by `manager`: `change` edits a copy of the object. */
  update(manager: string, change: (o: JsonObject) => void, subresource?: string): ManagedFieldsEntry[] {
    const before = this.object;
    const after = structuredClone(before ?? widget()) as JsonObject & { metadata: JsonObject };
    change(after);
    after.metadata.managedFields = recordUpdate({
      before,
      after,
      managedFields: this.entries(),
      manager,
      subresource,
      schema,
      now: this.now(),
    });
    this.object = after;
    return after.metadata.managedFields as ManagedFieldsEntry[];
  }

  spec(): JsonObject {
    return (this.object?.spec ?? {}) as JsonObject;
  }

  entries(): ManagedFieldsEntry[] {
    return ((this.object?.metadata as JsonObject | undefined)?.managedFields ?? []) as ManagedFieldsEntry[];
  }

  entry(manager: string, operation: 'Apply' | 'Update' = 'Apply'): ManagedFieldsEntry | undefined {
    return this.entries().find((e) => e.manager === manager && e.operation === operation);
  }

  /** The fields `manager` owns, as `.spec.replicas` paths. */
  owned(manager: string, operation: 'Apply' | 'Update' = 'Apply'): string[] {
    const e = this.entry(manager, operation);
    return e ? FieldSet.fromFieldsV1(e.fieldsV1).paths().map(formatPath) : [];
  }
}
