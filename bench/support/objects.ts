import type { KubeObject } from '../../src/api/index.ts';

/** A small ConfigMap as `kubectl create configmap` sends it (about 170 bytes of JSON), the `i`-th of a run. */
export function benchConfigMap(name: string, i: number): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace: 'default', labels: { app: 'bench' } },
    data: { index: String(i), payload: 'x'.repeat(64) },
  };
}

/** A ConfigMap much like `kubectl create configmap` makes (about 480 bytes), rendered for a revision. */
export function storedConfigMap(i: number, revision: number): string {
  return (
    `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm-${i}","namespace":"default",` +
    `"uid":"6f1c2a52-93a4-4f1e-b3c8-${String(i).padStart(12, '0')}","resourceVersion":"${revision}",` +
    `"creationTimestamp":"2025-01-01T00:00:00Z","labels":{"app":"bench","tier":"store"},` +
    `"managedFields":[{"manager":"bench","operation":"Update","apiVersion":"v1","time":"2025-01-01T00:00:00Z",` +
    `"fieldsType":"FieldsV1","fieldsV1":{"f:data":{".":{},"f:a":{},"f:b":{}}}}]},` +
    `"data":{"a":"${'x'.repeat(64)}","b":"${'y'.repeat(64)}"}}`
  );
}

/** The store key of the `i`-th ConfigMap of {@link storedConfigMap}. */
export const storedConfigMapKey = (i: number) => `/core/configmaps/default/cm-${i}`;
