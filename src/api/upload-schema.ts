import Type from 'typebox';
import type { FieldCause } from './kind.ts';
import { objectPathProblem } from './object-path.ts';

/**
 * A Workload's data uploads (issue 17): directories in its containers whose
 * completed files the agent uploads through the hub to
 * `devices/<device>/<namespace>/<workload>/[<target>/]<relative path>`.
 */
export const WorkloadUpload = Type.Object(
  {
    path: Type.String({
      minLength: 2,
      maxLength: 1024,
      description:
        'Absolute directory in the containers (mounted into each like a volume); every completed file under it is uploaded.',
    }),
    target: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 256,
        description: 'Relative prefix under the workload in the object keys; default none.',
      }),
    ),
    schedule: Type.Optional(
      Type.String({
        pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$',
        description:
          'A daily window, HH:MM-HH:MM in UTC (may pass midnight, e.g. 22:00-06:00), outside which files wait; default always.',
      }),
    ),
    deleteAfterUpload: Type.Optional(
      Type.Boolean({ description: 'Delete each file once the hub committed it. Default false.' }),
    ),
    maxBandwidth: Type.Optional(
      Type.Integer({ minimum: 1024, description: 'Upload rate limit, bytes per second; default none.' }),
    ),
  },
  { description: 'One directory whose files are uploaded.' },
);
export type WorkloadUpload = Type.Static<typeof WorkloadUpload>;

export const WorkloadUploads = Type.Array(WorkloadUpload, {
  maxItems: 16,
  description: 'Directories whose completed files the agent uploads to object storage through the hub.',
});

/** The causes of a Workload's `spec.uploads` that the schema cannot express. */
export function uploadCauses(uploads: readonly WorkloadUpload[] | undefined): FieldCause[] {
  const causes: FieldCause[] = [];
  const seen = new Map<string, number>();
  (uploads ?? []).forEach((upload, index) => {
    const field = `spec.uploads[${index}]`;
    const problem =
      typeof upload.path === 'string' && upload.path.startsWith('/')
        ? upload.path === '/'
          ? 'must not be the root directory'
          : objectPathProblem(upload.path.slice(1).replace(/\/$/, ''))
        : 'must be an absolute path';
    if (problem)
      causes.push({
        reason: 'FieldValueInvalid',
        field: `${field}.path`,
        message: `Invalid value: ${JSON.stringify(upload.path)}: ${problem}`,
      });
    const dir = typeof upload.path === 'string' ? upload.path.replace(/\/$/, '') : '';
    const before = seen.get(dir);
    if (!problem && before !== undefined)
      causes.push({
        reason: 'FieldValueDuplicate',
        field: `${field}.path`,
        message: `Duplicate value: ${JSON.stringify(upload.path)} (also spec.uploads[${before}].path)`,
      });
    seen.set(dir, index);
    if (upload.target !== undefined) {
      const targetProblem = objectPathProblem(upload.target);
      if (targetProblem)
        causes.push({
          reason: 'FieldValueInvalid',
          field: `${field}.target`,
          message: `Invalid value: ${JSON.stringify(upload.target)}: ${targetProblem}`,
        });
    }
  });
  return causes;
}

/** What a device reports of its uploads (Device `status.uploads`). */
export const UploadStatus = Type.Object(
  {
    queuedFiles: Type.Integer({ description: 'Completed files waiting to be uploaded.' }),
    queuedBytes: Type.Integer({ description: 'Their bytes.' }),
    uploadedBytes: Type.Integer({
      description: 'Bytes sent to the hub since the agent started (chunks acknowledged).',
    }),
    uploadedFiles: Type.Integer({ description: 'Files committed (or found held) since the agent started.' }),
    lastUploadTime: Type.Optional(
      Type.String({ format: 'date-time', description: 'When the last file was committed.' }),
    ),
    lastError: Type.Optional(
      Type.String({ description: 'The last error, e.g. a refused path or the quota.' }),
    ),
    lastErrorTime: Type.Optional(Type.String({ format: 'date-time' })),
  },
  { description: "The agent's data uploads." },
);
