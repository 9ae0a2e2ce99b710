/**
 * Where a Workload's upload directories live on the device, and how they
 * reach its containers: a hostPath volume per upload, mounted at the
 * upload's path in every container, as both runtimes already mount volumes.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { KubeObject, MailboxObject, WorkloadUpload } from '../../api/index.ts';
import { podSpecOf } from '../runtime/index.ts';

/** The host directory of one upload of a Workload: `ROOT/<namespace>/<workload>/<hash of the path>`. */
export function uploadDirOf(root: string, source: MailboxObject['source'], upload: WorkloadUpload): string {
  const id = createHash('sha256').update(upload.path.replace(/\/$/, '')).digest('hex').slice(0, 16);
  return join(root, source.namespace, source.workload, id);
}

/** A copy of `object` whose containers mount each upload's host directory at its path. */
export function withUploadMounts(
  object: KubeObject,
  root: string,
  source: MailboxObject['source'],
  uploads: readonly WorkloadUpload[],
): KubeObject {
  const copy = structuredClone(object);
  const { spec } = podSpecOf(copy);
  const shape = spec as { volumes?: unknown[]; containers?: Array<{ volumeMounts?: unknown[] }> };
  shape.volumes = shape.volumes ?? [];
  const volumes = shape.volumes;
  uploads.forEach((upload, index) => {
    const name = `outpost-upload-${index}`;
    volumes.push({ name, hostPath: { path: uploadDirOf(root, source, upload), type: 'Directory' } });
    for (const container of shape.containers ?? []) {
      container.volumeMounts = container.volumeMounts ?? [];
      container.volumeMounts.push({ name, mountPath: upload.path.replace(/\/$/, '') });
    }
  });
  return copy;
}
