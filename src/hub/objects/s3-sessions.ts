/**
 * Upload sessions in the S3 bucket the hub's replicas share (with `--objects s3://`), so that an
 * agent whose connection lands on another replica resumes where it was:
 * `PREFIX/sessions/<device>/<id>/session.json` holds the session's facts and
 * `.../chunks/<offset>` the bytes received from that offset (a chunk object is written when a
 * slice of a PUT's body is complete, and when the body breaks off, with what arrived).
 *
 * The offset held is the end of the run of chunks that starts at 0 and where each begins where
 * the previous one ends. Two replicas writing at the same offset (one agent, a retried request)
 * write the same bytes of the same file (the session id names its key, size and SHA-256); a
 * shorter chunk replacing a longer one only shortens that run, and the agent sends from its end
 * again. Content is verified as a whole at commit, so a chunk that lies is caught there.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { isNotFound, type S3Location } from './s3-storage.ts';
import {
  OffsetMismatchError,
  type SessionInfo,
  type SessionStore,
  sessionIdOf,
  TooManyBytesError,
} from './sessions.ts';

/** The largest chunk object: a PUT's body is cut into slices of this size. @default 8 MiB */
const SLICE_BYTES = 8 * 1024 * 1024;
const ID = /^[0-9a-f]{40}$/;

export class S3UploadSessions implements SessionStore {
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  /** Where a session's content is assembled before it is stored (this hub's own disk). */
  readonly #local: string;
  /** Sessions a chunk is being written to through this replica. */
  readonly #busy = new Set<string>();

  constructor(location: S3Location, client: S3Client, localRoot: string) {
    this.#client = client;
    this.#bucket = location.bucket;
    this.#prefix = `${location.prefix}sessions/`;
    this.#local = join(localRoot, 'assembling');
  }

  #key(device: string, id: string, rest: string): string {
    return `${this.#prefix}${device}/${id}/${rest}`;
  }

  async open(
    device: string,
    key: string,
    size: number,
    sha256: string,
  ): Promise<{ session: SessionInfo; offset: number }> {
    const id = sessionIdOf(key, size, sha256);
    const session: SessionInfo = { id, device, key, size, sha256 };
    if (!(await this.get(device, id)))
      await this.#client.send(
        new PutObjectCommand({
          Bucket: this.#bucket,
          Key: this.#key(device, id, 'session.json'),
          Body: JSON.stringify(session),
          ContentType: 'application/json',
        }),
      );
    return { session, offset: await this.held(device, id) };
  }

  async get(device: string, id: string): Promise<SessionInfo | undefined> {
    if (!ID.test(id)) return undefined;
    try {
      const answer = await this.#client.send(
        new GetObjectCommand({ Bucket: this.#bucket, Key: this.#key(device, id, 'session.json') }),
      );
      return JSON.parse(await answer.Body!.transformToString('utf8')) as SessionInfo;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** The run of chunks from offset 0: each chunk's key and length, in order. */
  async #run(device: string, id: string): Promise<Array<{ key: string; offset: number; size: number }>> {
    const prefix = this.#key(device, id, 'chunks/');
    const byOffset = new Map<number, { key: string; size: number }>();
    let ContinuationToken: string | undefined;
    do {
      const page = await this.#client.send(
        new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: prefix, ContinuationToken }),
      );
      for (const item of page.Contents ?? []) {
        const offset = Number(item.Key?.slice(prefix.length));
        if (item.Key && Number.isSafeInteger(offset) && (item.Size ?? 0) > 0)
          byOffset.set(offset, { key: item.Key, size: item.Size ?? 0 });
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
    const run: Array<{ key: string; offset: number; size: number }> = [];
    for (let offset = 0, next = byOffset.get(0); next; next = byOffset.get(offset)) {
      run.push({ key: next.key, offset, size: next.size });
      offset += next.size;
    }
    return run;
  }

  async held(device: string, id: string): Promise<number> {
    const run = await this.#run(device, id);
    const last = run.at(-1);
    return last ? last.offset + last.size : 0;
  }

  async append(session: SessionInfo, offset: number, body: Readable): Promise<number> {
    const name = `${session.device}/${session.id}`;
    if (this.#busy.has(name)) throw new OffsetMismatchError(await this.held(session.device, session.id));
    this.#busy.add(name);
    try {
      const held = await this.held(session.device, session.id);
      if (offset !== held) throw new OffsetMismatchError(held);
      let written = held;
      let slice: Buffer[] = [];
      let sliceBytes = 0;
      const flush = async () => {
        if (sliceBytes === 0) return;
        const data = Buffer.concat(slice, sliceBytes);
        slice = [];
        sliceBytes = 0;
        await this.#client.send(
          new PutObjectCommand({
            Bucket: this.#bucket,
            Key: this.#key(session.device, session.id, `chunks/${String(written).padStart(16, '0')}`),
            Body: data,
            ContentLength: data.length,
          }),
        );
        written += data.length;
      };
      try {
        for await (const chunk of body) {
          const buffer = chunk as Buffer;
          if (written + sliceBytes + buffer.length > session.size) throw new TooManyBytesError(session.size);
          slice.push(buffer);
          sliceBytes += buffer.length;
          if (sliceBytes >= SLICE_BYTES) await flush();
        }
      } finally {
        // What arrived before the body broke off is kept, as on disk: the agent goes on after it.
        await flush();
      }
      return written;
    } finally {
      this.#busy.delete(name);
    }
  }

  async assemble(session: SessionInfo): Promise<{ file: string; sha256: string }> {
    await mkdir(this.#local, { recursive: true, mode: 0o700 });
    const file = join(this.#local, `${session.id}.${process.pid}.${Date.now()}`);
    const hash = createHash('sha256');
    const handle = await open(file, 'w', 0o600);
    try {
      for (const chunk of await this.#run(session.device, session.id)) {
        const answer = await this.#client.send(
          new GetObjectCommand({ Bucket: this.#bucket, Key: chunk.key }),
        );
        for await (const data of answer.Body as Readable) {
          hash.update(data as Buffer);
          await handle.write(data as Buffer);
        }
      }
    } catch (error) {
      await handle.close();
      await rm(file, { force: true });
      throw error;
    }
    await handle.close();
    return { file, sha256: hash.digest('hex') };
  }

  async discard(session: Pick<SessionInfo, 'device' | 'id'>): Promise<void> {
    const prefix = this.#key(session.device, session.id, '');
    let ContinuationToken: string | undefined;
    do {
      const page = await this.#client.send(
        new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: prefix, ContinuationToken }),
      );
      for (const item of page.Contents ?? [])
        if (item.Key)
          await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: item.Key }));
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
  }
}
