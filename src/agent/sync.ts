import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Mailbox } from '../api/index.ts';
import { delay, writeFileAtomic } from '../util/index.ts';
import { type Backoff, reconnectBackoff } from './backoff.ts';
import { type HubApi, HubStatusError, HubUnreachableError, type WatchEvent } from './hub-client/index.ts';

/**
 * The agent's informer on its own Mailbox: list, then watch from the list's
 * resourceVersion (resuming from the last one seen after a broken stream,
 * relisting on 410), with a durable local copy in `DIR/mailbox.json`
 * (replaced atomically, fsynced) from which the agent starts when the hub
 * cannot be reached: a device rebooted offline runs what it ran before.
 */

/** Whether the hub answers. */
export type ConnectionState = 'connecting' | 'connected' | 'disconnected';

/** Options of {@link MailboxSync}. */
export interface MailboxSyncOptions {
  readonly api: HubApi;
  readonly dataDir: string;
  readonly log: Logger;
  /** Called with each new Mailbox (also the local copy at start); never concurrently. */
  readonly onMailbox: (mailbox: Mailbox) => void;
  /** Called on each change of the connection state. */
  readonly onState?: (state: ConnectionState) => void;
  /** Retry delays after failures. @default reconnectBackoff() (1 s doubling to 60 s, full jitter) */
  readonly backoff?: Backoff;
  /** How long the server keeps one watch open. @default 300 */
  readonly watchTimeoutSeconds?: number;
}

/** The local copy's file. */
export function mailboxPathOf(dataDir: string): string {
  return join(dataDir, 'mailbox.json');
}

/** Reads the local copy; undefined when there is none (or it is unreadable). */
export async function loadLocalMailbox(dataDir: string): Promise<Mailbox | undefined> {
  try {
    return JSON.parse(await readFile(mailboxPathOf(dataDir), 'utf8')) as Mailbox;
  } catch {
    return undefined;
  }
}

/** Keeps the agent's Mailbox current; see the module comment. */
export class MailboxSync {
  readonly #options: MailboxSyncOptions;
  readonly #backoff: Backoff;
  #state: ConnectionState = 'connecting';
  #current: Mailbox | undefined;
  #resourceVersion: string | undefined;
  /** Ends the wait before the next retry (see {@link hubAnswered}). */
  #retryNow: AbortController | undefined;

  constructor(options: MailboxSyncOptions) {
    this.#options = options;
    this.#backoff = options.backoff ?? reconnectBackoff();
  }

  /** The connection state. */
  get state(): ConnectionState {
    return this.#state;
  }

  /** The Mailbox as last seen (from the hub or the local copy). */
  get current(): Mailbox | undefined {
    return this.#current;
  }

  /** Runs until `signal` aborts: local copy first, then list + watch with retries. */
  async run(signal: AbortSignal): Promise<void> {
    const local = await loadLocalMailbox(this.#options.dataDir);
    if (local) {
      this.#current = local;
      this.#options.log.info(
        { resourceVersion: local.metadata?.resourceVersion },
        'starting from local mailbox copy',
      );
      this.#options.onMailbox(local);
    }
    while (!signal.aborted) {
      try {
        if (this.#resourceVersion === undefined) await this.#list(signal);
        await this.#watch(signal);
        this.#backoff.reset();
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof HubStatusError && error.statusCode === 410) {
          this.#options.log.info('mailbox watch expired: relisting');
          this.#resourceVersion = undefined;
          continue;
        }
        this.#setState('disconnected', error);
        this.#retryNow = new AbortController();
        await delay(this.#backoff.next(), AbortSignal.any([signal, this.#retryNow.signal])).catch(() => {});
        this.#retryNow = undefined;
      }
    }
  }

  /**
   * Another request reached the hub (a report was answered): a retry waiting
   * out its backoff goes at once. After a long outage the backoff is up to a
   * minute, and the Mailbox (a decommissioned child's revocation, a new
   * workload) would wait that long although the way up is back.
   */
  hubAnswered(): void {
    this.#retryNow?.abort();
  }

  async #list(signal: AbortSignal): Promise<void> {
    const name = encodeURIComponent(this.#options.api.deviceName);
    const list = await this.#options.api.request<{
      metadata?: { resourceVersion?: string };
      items?: Mailbox[];
    }>('GET', `/apis/outpost.dev/v1alpha1/mailboxes?fieldSelector=metadata.name%3D${name}`, { signal });
    this.#setState('connected');
    const mailbox = list.items?.[0] ?? emptyMailbox(this.#options.api.deviceName);
    this.#resourceVersion = list.metadata?.resourceVersion ?? '0';
    await this.#accept(mailbox);
  }

  async #watch(signal: AbortSignal): Promise<void> {
    const name = encodeURIComponent(this.#options.api.deviceName);
    const timeout = this.#options.watchTimeoutSeconds ?? 300;
    const path =
      `/apis/outpost.dev/v1alpha1/mailboxes?watch=1&allowWatchBookmarks=true&timeoutSeconds=${timeout}` +
      `&fieldSelector=metadata.name%3D${name}&resourceVersion=${this.#resourceVersion}`;
    for await (const event of this.#options.api.watch<Mailbox>(path, signal)) {
      this.#setState('connected');
      await this.#handle(event);
    }
  }

  async #handle(event: WatchEvent<Mailbox>): Promise<void> {
    if (event.type === 'ERROR') {
      const status = event.object as unknown as { code?: number; reason?: string; message?: string };
      throw new HubStatusError(status.code ?? 500, status.reason, status.message ?? 'watch error');
    }
    const version = event.object.metadata?.resourceVersion;
    if (event.type === 'BOOKMARK') {
      if (version) this.#resourceVersion = version;
      return;
    }
    if (version) this.#resourceVersion = version;
    // A deleted Mailbox means nothing is placed here any more.
    const mailbox =
      event.type === 'DELETED' ? emptyMailbox(this.#options.api.deviceName, version) : event.object;
    await this.#accept(mailbox);
  }

  /** Keeps the copy on disk first, then hands it on: what ran is what is on disk. */
  async #accept(mailbox: Mailbox): Promise<void> {
    const previous = this.#current;
    if (previous && JSON.stringify(previous) === JSON.stringify(mailbox)) return;
    await writeFileAtomic(mailboxPathOf(this.#options.dataDir), JSON.stringify(mailbox), 0o600);
    this.#current = mailbox;
    this.#options.onMailbox(mailbox);
  }

  #setState(state: ConnectionState, error?: unknown): void {
    if (state === this.#state) return;
    this.#state = state;
    if (state === 'connected') this.#options.log.info('connected to hub');
    else this.#options.log.warn({ err: describe(error) }, 'hub unreachable: retrying with backoff');
    this.#options.onState?.(state);
  }
}

function emptyMailbox(name: string, resourceVersion?: string): Mailbox {
  return {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Mailbox',
    metadata: { name, ...(resourceVersion ? { resourceVersion } : {}) },
    spec: { objects: [] },
  } as Mailbox;
}

function describe(error: unknown): string {
  if (error instanceof HubUnreachableError || error instanceof HubStatusError) return error.message;
  return error instanceof Error ? error.message : String(error);
}
