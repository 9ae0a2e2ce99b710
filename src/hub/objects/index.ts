/**
 * Object storage for data uploads (issue 17): storage backends of committed
 * objects, the hub's upload sessions (chunked, resumable, verified by
 * SHA-256 before commit, deduplicated per device and target, within a
 * per-device quota), and the agent's and people's endpoints.
 */
export { FsObjectStorage } from './fs-storage.ts';
export { registerObjects } from './routes.ts';
export { S3UploadSessions } from './s3-sessions.ts';
export { parseS3Url, type S3Location, S3ObjectStorage, s3ClientFor } from './s3-storage.ts';
export { type SessionStore, UploadSessions } from './sessions.ts';
export { type ObjectInfo, ObjectKeyConflictError, type ObjectStorage } from './storage.ts';
export { DEFAULT_OBJECT_QUOTA, type ObjectQuota, Uploads } from './uploads.ts';
