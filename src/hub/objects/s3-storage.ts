/**
 * The S3 backend (`outpost hub --objects s3://BUCKET?endpoint=URL`), through
 * the official AWS SDK: any S3 API, shared by the hub's replicas. An object's
 * SHA-256 travels as user metadata (`x-amz-meta-sha256`); files larger than
 * one part go up as a multipart upload, which S3 makes visible only when it
 * completes (an aborted one leaves nothing).
 */
import { open, readFile, rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { ObjectInfo, ObjectStorage } from './storage.ts';

/** Parts of a multipart upload (S3's minimum is 5 MiB). @default 8 MiB */
const PART_BYTES = 8 * 1024 * 1024;

/** Where the objects go: `s3://BUCKET[/PREFIX]?endpoint=URL&region=R`. */
export interface S3Location {
  readonly bucket: string;
  readonly prefix: string;
  readonly endpoint?: string;
  readonly region: string;
}

/** Reads `--objects s3://...`. @throws Error naming what is wrong */
export function parseS3Url(url: string): S3Location {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(
      `--objects must be s3://BUCKET[/PREFIX][?endpoint=URL&region=R], not ${JSON.stringify(url)}`,
    );
  }
  if (parsed.protocol !== 's3:' || !parsed.hostname)
    throw new Error(
      `--objects must be s3://BUCKET[/PREFIX][?endpoint=URL&region=R], not ${JSON.stringify(url)}`,
    );
  const endpoint = parsed.searchParams.get('endpoint') ?? undefined;
  const prefix = parsed.pathname.replace(/^\/+|\/+$/g, '');
  return {
    bucket: parsed.hostname,
    prefix: prefix ? `${prefix}/` : '',
    region: parsed.searchParams.get('region') ?? 'us-east-1',
    ...(endpoint ? { endpoint } : {}),
  };
}

/** A client of the location's S3 API; credentials from the AWS SDK's default chain. */
export function s3ClientFor(location: S3Location): S3Client {
  return new S3Client({
    region: location.region,
    // Checksums only where S3 requires them: other S3 APIs refuse or store the newer trailers.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    ...(location.endpoint ? { endpoint: location.endpoint, forcePathStyle: true } : {}),
  });
}

export class S3ObjectStorage implements ObjectStorage {
  readonly location: string;
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;

  /** Credentials come from the AWS SDK's default chain (environment, profile, instance role). */
  constructor(location: S3Location, client?: S3Client) {
    this.#bucket = location.bucket;
    this.#prefix = location.prefix;
    this.location = `s3://${location.bucket}/${location.prefix}`;
    this.#client = client ?? s3ClientFor(location);
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const answer = await this.#client.send(
        new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#prefix + key }),
      );
      return {
        key,
        size: answer.ContentLength ?? 0,
        sha256: answer.Metadata?.sha256 ?? '',
        modified: (answer.LastModified ?? new Date()).toISOString(),
      };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async put(key: string, file: string, info: { size: number; sha256: string }): Promise<ObjectInfo> {
    const Key = this.#prefix + key;
    const Metadata = { sha256: info.sha256 };
    if (info.size <= PART_BYTES) {
      await this.#client.send(
        new PutObjectCommand({
          Bucket: this.#bucket,
          Key,
          // A buffer, not a stream: a stream goes as aws-chunked with trailing checksums, which not
          // every S3 API decodes (s3rver stores the framing); one part is at most 8 MiB.
          Body: await readFile(file),
          ContentLength: info.size,
          Metadata,
        }),
      );
    } else {
      const { UploadId } = await this.#client.send(
        new CreateMultipartUploadCommand({ Bucket: this.#bucket, Key, Metadata }),
      );
      try {
        const parts: Array<{ ETag: string; PartNumber: number }> = [];
        const handle = await open(file, 'r');
        try {
          const buffer = Buffer.alloc(PART_BYTES);
          for (let offset = 0, part = 1; offset < info.size; offset += PART_BYTES, part++) {
            const { bytesRead } = await handle.read(
              buffer,
              0,
              Math.min(PART_BYTES, info.size - offset),
              offset,
            );
            const answer = await this.#client.send(
              new UploadPartCommand({
                Bucket: this.#bucket,
                Key,
                UploadId,
                PartNumber: part,
                Body: buffer.subarray(0, bytesRead),
                ContentLength: bytesRead,
              }),
            );
            parts.push({ ETag: answer.ETag ?? '', PartNumber: part });
          }
        } finally {
          await handle.close();
        }
        await this.#client.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.#bucket,
            Key,
            UploadId,
            MultipartUpload: { Parts: parts },
          }),
        );
      } catch (error) {
        await this.#client
          .send(new AbortMultipartUploadCommand({ Bucket: this.#bucket, Key, UploadId }))
          .catch(() => undefined);
        throw error;
      }
    }
    await rm(file, { force: true });
    return (await this.head(key)) ?? { key, ...info, modified: new Date().toISOString() };
  }

  async copy(from: string, to: string): Promise<ObjectInfo | undefined> {
    try {
      await this.#client.send(
        new CopyObjectCommand({
          Bucket: this.#bucket,
          Key: this.#prefix + to,
          CopySource: `${this.#bucket}/${encodeURI(this.#prefix + from)}`,
          MetadataDirective: 'COPY',
        }),
      );
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
    return this.head(to);
  }

  async get(key: string): Promise<{ info: ObjectInfo; body: Readable } | undefined> {
    try {
      const answer = await this.#client.send(
        new GetObjectCommand({ Bucket: this.#bucket, Key: this.#prefix + key }),
      );
      return {
        info: {
          key,
          size: answer.ContentLength ?? 0,
          sha256: answer.Metadata?.sha256 ?? '',
          modified: (answer.LastModified ?? new Date()).toISOString(),
        },
        body: answer.Body as Readable,
      };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const keys: string[] = [];
    let ContinuationToken: string | undefined;
    do {
      const page = await this.#client.send(
        new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: this.#prefix + prefix, ContinuationToken }),
      );
      for (const item of page.Contents ?? []) if (item.Key) keys.push(item.Key.slice(this.#prefix.length));
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
    keys.sort();
    // Listing does not return user metadata: each object's hash needs its HEAD.
    const infos: ObjectInfo[] = [];
    for (const key of keys) {
      const info = await this.head(key);
      if (info) infos.push(info);
    }
    return infos;
  }

  async delete(key: string): Promise<boolean> {
    if (!(await this.head(key))) return false;
    await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: this.#prefix + key }));
    return true;
  }
}

export function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404;
}
