import { createHash } from 'node:crypto';

/** A ConfigMap's identity in the history: `namespace/name`. */
export type ObjectId = string;

/** What one writer asked for and what it learnt about the outcome. */
export interface WriteRecord {
  readonly writer: number;
  readonly cycle: number;
  readonly op: 'create' | 'update' | 'delete';
  readonly id: ObjectId;
  /** The unique token a create or update stores in `data.token`. */
  readonly token?: string;
  /** Digest of the `data` a create or update sent. */
  readonly digest?: string;
  /** The resourceVersion an update or delete was conditioned on. */
  readonly precondition?: number;
  /** Monotonic time (ms) the request was sent and its outcome known. */
  readonly sentAt: number;
  endedAt: number;
  /** ok: acknowledged; failed: refused with a status; unknown: the connection broke. */
  outcome: 'pending' | 'ok' | 'failed' | 'unknown';
  revision?: number;
  status?: number;
  detail?: string;
}

/** A GET of one ConfigMap. */
export interface ReadRecord {
  readonly cycle: number;
  readonly id: ObjectId;
  readonly sentAt: number;
  endedAt: number;
  outcome: 'pending' | 'ok' | 'absent' | 'failed' | 'unknown';
  revision?: number;
  token?: string;
  digest?: string;
  detail?: string;
}

/** A watch event as a client received it, reduced to what the checks compare. */
export interface ObservedEvent {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly id: ObjectId;
  readonly namespace: string;
  readonly revision: number;
  readonly token?: string;
  readonly digest?: string;
  /** Monotonic time (ms) the event was received. */
  readonly receivedAt: number;
  /** What is wrong with the object's shape, if anything. */
  readonly problems: readonly string[];
}

/** One watcher's whole life: its first resourceVersion and every event it got, across resumes. */
export interface WatcherRecord {
  readonly name: string;
  /** The namespace it watches; undefined for all namespaces. */
  readonly namespace: string | undefined;
  readonly startRevision: number;
  readonly events: ObservedEvent[];
  /** Streams that ended with an ERROR event or an unparsable line. */
  readonly errors: string[];
}

/** A ConfigMap as the final list and GET returned it. */
export interface FinalObject {
  readonly id: ObjectId;
  readonly revision: number;
  readonly token?: string;
  readonly digest?: string;
  readonly problems: readonly string[];
}

/** Everything the checks look at. */
export interface History {
  readonly namespaces: readonly string[];
  readonly writes: readonly WriteRecord[];
  readonly reads: readonly ReadRecord[];
  readonly watchers: readonly WatcherRecord[];
  /** Every ConfigMap event after `baseRevision`, from one watch at the end (the reference sequence). */
  readonly full: readonly ObservedEvent[];
  /** The revision every watch and the reference sequence start after (the namespaces' creation). */
  readonly baseRevision: number;
  /** The final list: its resourceVersion and its objects. */
  readonly finalRevision: number;
  readonly finalObjects: readonly FinalObject[];
  /** Monotonic time each cycle's SIGKILL was sent. */
  readonly killedAt: readonly number[];
}

/** A ConfigMap's data, checkable on its own: the blob is derived from the token. */
export function makeData(token: string, writer: number, blobLength: number): Record<string, string> {
  return { token, writer: String(writer), blob: makeBlob(token, blobLength) };
}

function makeBlob(token: string, length: number): string {
  const unit = `${token};`;
  return unit.repeat(Math.ceil(length / unit.length)).slice(0, length);
}

/** A digest of a data map (key order ignored). */
export function digestOf(data: Record<string, unknown>): string {
  const sorted = Object.keys(data)
    .sort()
    .map((key) => [key, data[key]]);
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex').slice(0, 24);
}

/** Parses a ConfigMap written by the workload and lists what is wrong with its shape. */
export function inspectConfigMap(object: unknown): {
  id: ObjectId;
  namespace: string;
  revision: number;
  token?: string;
  digest?: string;
  problems: string[];
} {
  const problems: string[] = [];
  const o = (object ?? {}) as {
    apiVersion?: unknown;
    kind?: unknown;
    metadata?: Record<string, unknown>;
    data?: unknown;
  };
  const meta = o.metadata ?? {};
  const namespace = typeof meta.namespace === 'string' ? meta.namespace : '';
  const name = typeof meta.name === 'string' ? meta.name : '';
  const id = `${namespace}/${name}`;
  const rv = meta.resourceVersion;
  const revision = typeof rv === 'string' && /^[1-9]\d*$/.test(rv) ? Number(rv) : Number.NaN;
  if (o.apiVersion !== 'v1' || o.kind !== 'ConfigMap') problems.push(`${id}: not a v1 ConfigMap`);
  if (!namespace || !name) problems.push(`${id}: no namespace or name`);
  if (Number.isNaN(revision)) problems.push(`${id}: bad resourceVersion ${JSON.stringify(rv)}`);
  if (typeof meta.uid !== 'string' || meta.uid.length < 10) problems.push(`${id}: bad uid`);
  if (typeof meta.creationTimestamp !== 'string' || Number.isNaN(Date.parse(meta.creationTimestamp))) {
    problems.push(`${id}: bad creationTimestamp`);
  }
  const data = o.data as Record<string, unknown> | undefined;
  if (typeof data !== 'object' || data === null) {
    problems.push(`${id}: no data`);
    return { id, namespace, revision, problems };
  }
  const token = data.token;
  const blob = data.blob;
  if (typeof token !== 'string' || typeof blob !== 'string' || typeof data.writer !== 'string') {
    problems.push(`${id}: data lacks token, writer or blob`);
    return { id, namespace, revision, problems };
  }
  if (blob !== makeBlob(token, blob.length)) problems.push(`${id}: blob does not match token ${token}`);
  if (Object.keys(data).length !== 3)
    problems.push(`${id}: unexpected data keys ${Object.keys(data).join(',')}`);
  return { id, namespace, revision, token, digest: digestOf(data), problems };
}

/** Parses one watch line into an observed event; BOOKMARK gives undefined; ERROR and garbage throw. */
export function observeLine(line: string, receivedAt: number): ObservedEvent | undefined {
  const event = JSON.parse(line) as { type?: unknown; object?: unknown };
  if (event.type === 'BOOKMARK') return undefined;
  if (event.type !== 'ADDED' && event.type !== 'MODIFIED' && event.type !== 'DELETED') {
    throw new Error(`unexpected watch event ${line.slice(0, 300)}`);
  }
  const inspected = inspectConfigMap(event.object);
  return {
    type: event.type,
    id: inspected.id,
    namespace: inspected.namespace,
    revision: inspected.revision,
    token: inspected.token,
    digest: inspected.digest,
    receivedAt,
    problems: inspected.problems,
  };
}
