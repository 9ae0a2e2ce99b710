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
