import { readFile } from 'node:fs/promises';
import YAML from 'yaml';
import type { KubeObject } from '../api/index.ts';
import { ApiError, type ObjectService } from '../hub/kube-api/index.ts';

const EXAMPLES = new URL('../../examples/demo.yaml', import.meta.url);

/** Creates the example objects of `examples/demo.yaml` that do not exist yet. */
export async function applyExamples(service: ObjectService): Promise<void> {
  const documents = YAML.parseAllDocuments(await readFile(EXAMPLES, 'utf8')).map(
    (document) => document.toJS() as KubeObject,
  );
  for (const object of documents) {
    const def = service.registry.byKind(object.apiVersion, object.kind);
    if (!def) throw new Error(`examples/demo.yaml: unknown kind ${object.apiVersion} ${object.kind}`);
    try {
      await service.create(def, object.metadata.namespace, object, { fieldManager: 'outpost-demo' });
    } catch (error) {
      if (!(error instanceof ApiError && error.reason === 'AlreadyExists')) throw error;
    }
  }
}
