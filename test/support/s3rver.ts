import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface S3rverServer {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
}
// s3rver ships no types.
const S3rver = createRequire(import.meta.url)('s3rver') as new (
  options: Record<string, unknown>,
) => S3rverServer;

/** A running s3rver (a local S3 API) with one bucket, on a free port. */
export interface S3rverInstance {
  /** `http://127.0.0.1:PORT` */
  readonly endpoint: string;
  /** `--objects s3://BUCKET/PREFIX?endpoint=...` for a hub. */
  objectsUrl(prefix: string): string;
  /** What a hub process needs in its environment to sign requests s3rver accepts. */
  readonly env: NodeJS.ProcessEnv;
  close(): Promise<void>;
}

/** Starts s3rver with bucket `bucket` in a temp dir that `close` removes. */
export async function startS3rver(bucket = 'outpost'): Promise<S3rverInstance> {
  const dir = await mkdtemp(join(tmpdir(), 'outpost-s3rver-'));
  const server = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory: dir,
    configureBuckets: [{ name: bucket }],
  });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    objectsUrl: (prefix) => `s3://${bucket}/${prefix}?endpoint=${endpoint}`,
    env: {
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_REGION: 'us-east-1',
      AWS_EC2_METADATA_DISABLED: 'true',
    },
    close: async () => {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
