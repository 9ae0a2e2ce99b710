import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import YAML from 'yaml';
import type { ApiClient } from '../../support/index.ts';
import {
  digestOf,
  inspectConfigMap,
  makeData,
  type ObjectId,
  type ObservedEvent,
  observeLine,
  type ReadRecord,
  type WatcherRecord,
  type WriteRecord,
} from './records.ts';

/** A small seeded PRNG (mulberry32): the same seed makes the same choices. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Collects what every client did and saw; acknowledgements wake whoever waits for a count. */
export class Recorder {
  readonly writes: WriteRecord[] = [];
  readonly reads: ReadRecord[] = [];
  #acks = 0;
  #waiters: Array<{ count: number; resolve: () => void }> = [];

  get acks(): number {
    return this.#acks;
  }

  acknowledged(): void {
    this.#acks++;
    this.#waiters = this.#waiters.filter((waiter) => {
      if (this.#acks < waiter.count) return true;
      waiter.resolve();
      return false;
    });
  }

  /** Resolves once `count` writes in total were acknowledged. */
  waitForAcks(count: number): Promise<void> {
    if (this.#acks >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ count, resolve }));
  }
}

/** What a writer knows of one object: its resourceVersion, null when absent, undefined when unknown. */
type Known = number | null | undefined;

/**
 * One client of the workload. It creates, updates (conditioned on the
 * resourceVersion it last saw) and deletes (likewise) ConfigMaps from a
 * shared pool, rereading an object after a conflict, and records every
 * request with its outcome. `run` returns when told to stop or when the
 * connection breaks (the hub is gone).
 */
export class Writer {
  readonly #known = new Map<ObjectId, Known>();
  readonly #random: () => number;
  #sequence = 0;

  constructor(
    readonly index: number,
    readonly namespace: string,
    readonly names: readonly string[],
    seed: number,
    readonly recorder: Recorder,
  ) {
    this.#random = seededRandom(seed);
  }

  async run(client: ApiClient, cycle: number, stopped: () => boolean): Promise<void> {
    while (!stopped()) {
      const name = this.names[Math.floor(this.#random() * this.names.length)]!;
      const id = `${this.namespace}/${name}`;
      const known = this.#known.get(id);
      const ok =
        known === undefined
          ? await this.#read(client, cycle, id, name)
          : await this.#write(client, cycle, id, name, known);
      if (!ok) return;
    }
  }

  async #read(client: ApiClient, cycle: number, id: ObjectId, name: string): Promise<boolean> {
    const record: ReadRecord = { cycle, id, sentAt: performance.now(), endedAt: 0, outcome: 'pending' };
    this.recorder.reads.push(record);
    try {
      const response = await client.request('GET', `/api/v1/namespaces/${this.namespace}/configmaps/${name}`);
      record.endedAt = performance.now();
      if (response.status === 200) {
        const object = inspectConfigMap(response.json());
        Object.assign(record, {
          outcome: 'ok',
          revision: object.revision,
          token: object.token,
          digest: object.digest,
        });
        this.#known.set(id, object.revision);
      } else if (response.status === 404) {
        record.outcome = 'absent';
        this.#known.set(id, null);
      } else {
        Object.assign(record, {
          outcome: 'failed',
          detail: `${response.status} ${response.text.slice(0, 200)}`,
        });
      }
      return true;
    } catch (error) {
      Object.assign(record, { endedAt: performance.now(), outcome: 'unknown', detail: String(error) });
      return false;
    }
  }

  async #write(
    client: ApiClient,
    cycle: number,
    id: ObjectId,
    name: string,
    known: number | null,
  ): Promise<boolean> {
    const op = known === null ? 'create' : this.#random() < 0.75 ? 'update' : 'delete';
    const base = {
      writer: this.index,
      cycle,
      op,
      id,
      sentAt: performance.now(),
      endedAt: 0,
      outcome: 'pending',
    } as const;
    let record: WriteRecord;
    let method: string;
    let path = `/api/v1/namespaces/${this.namespace}/configmaps`;
    let body: unknown;
    if (op === 'delete') {
      record = { ...base, precondition: known! };
      method = 'DELETE';
      path += `/${name}`;
      body = { preconditions: { resourceVersion: String(known) } };
    } else {
      // Values from a few bytes to tens of KB, so that a commit spans many pages.
      const token = `w${this.index}-${this.#sequence++}`;
      const data = makeData(token, this.index, Math.floor(this.#random() ** 3 * 40_000));
      const metadata = op === 'create' ? { name } : { name, resourceVersion: String(known) };
      record = {
        ...base,
        token,
        digest: digestOf(data),
        ...(op === 'update' ? { precondition: known! } : {}),
      };
      method = op === 'create' ? 'POST' : 'PUT';
      if (op === 'update') path += `/${name}`;
      body = { apiVersion: 'v1', kind: 'ConfigMap', metadata, data };
    }
    this.recorder.writes.push(record);
    try {
      const response = await client.request(method, path, { body });
      record.endedAt = performance.now();
      if (response.status === 200 || response.status === 201) {
        const object = inspectConfigMap(response.json());
        record.outcome = 'ok';
        record.revision = object.revision;
        if (op !== 'delete' && object.digest !== record.digest)
          record.detail = 'response data differs from request';
        this.#known.set(id, op === 'delete' ? null : object.revision);
        this.recorder.acknowledged();
      } else {
        Object.assign(record, {
          outcome: 'failed',
          status: response.status,
          detail: response.text.slice(0, 300),
        });
        this.#known.set(id, undefined);
      }
      return true;
    } catch (error) {
      Object.assign(record, { endedAt: performance.now(), outcome: 'unknown', detail: String(error) });
      this.#known.set(id, undefined);
      return false;
    }
  }
}

/** A keep-alive HTTPS agent and server URL from an admin kubeconfig, for streaming watches. */
export function watchDispatcher(kubeconfigPath: string): { server: string; dispatcher: Agent } {
  const config = YAML.parse(readFileSync(kubeconfigPath, 'utf8'));
  const cluster = config.clusters[0].cluster;
  const user = config.users[0].user;
  const decode = (data: string) => Buffer.from(data, 'base64').toString('utf8');
  const dispatcher = new Agent({
    connect: {
      ca: decode(cluster['certificate-authority-data']),
      cert: decode(user['client-certificate-data']),
      key: decode(user['client-key-data']),
    },
  });
  return { server: cluster.server, dispatcher };
}

/** The collection path a watcher lists and watches. */
export function collectionPath(namespace: string | undefined): string {
  return namespace === undefined ? '/api/v1/configmaps' : `/api/v1/namespaces/${namespace}/configmaps`;
}

/**
 * Streams one watch session from `afterRevision` and hands every complete
 * event line to `onEvent`. A trailing partial line (the hub died mid-write)
 * is dropped, as any client would. Resolves when the stream ends for any
 * reason: the hub died, `signal` aborted, or an ERROR event arrived (recorded).
 */
export async function watchSession(options: {
  readonly server: string;
  readonly dispatcher: Agent;
  readonly record: WatcherRecord;
  readonly afterRevision: number;
  /** Ends the session early; without it, the session lasts until the hub goes away. */
  readonly signal?: AbortSignal;
  readonly onEvent?: (event: ObservedEvent) => void;
}): Promise<void> {
  const { record } = options;
  const path = `${collectionPath(record.namespace)}?watch=1&resourceVersion=${options.afterRevision}`;
  const decoder = new TextDecoder();
  let pending = '';
  try {
    const response = await request(options.server + path, {
      dispatcher: options.dispatcher,
      signal: options.signal,
    });
    if (response.statusCode !== 200) {
      record.errors.push(
        `watch from ${options.afterRevision}: HTTP ${response.statusCode} ${await response.body.text()}`,
      );
      return;
    }
    for await (const chunk of response.body) {
      const receivedAt = performance.now();
      pending += decoder.decode(chunk as Buffer, { stream: true });
      let newline = pending.indexOf('\n');
      while (newline !== -1) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        newline = pending.indexOf('\n');
        if (line.trim() === '') continue;
        let event: ObservedEvent | undefined;
        try {
          event = observeLine(line, receivedAt);
        } catch (error) {
          record.errors.push(`watch from ${options.afterRevision}: ${String(error)}`);
          return;
        }
        if (!event) continue;
        record.events.push(event);
        options.onEvent?.(event);
      }
    }
  } catch {
    // The hub was killed or the session aborted: the watcher resumes from its last event.
  }
}

/** The revision a watcher resumes after: its last event's, else the one it started at. */
export function resumeRevision(record: WatcherRecord): number {
  return record.events.at(-1)?.revision ?? record.startRevision;
}
