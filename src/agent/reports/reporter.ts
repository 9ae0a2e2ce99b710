import type { Logger } from 'pino';
import { delay } from '../../util/index.ts';
import { type Backoff, reconnectBackoff } from '../backoff.ts';
import { type HubApi, HubStatusError, HubUnreachableError } from '../hub-client/index.ts';
import { sameStatus } from '../reconcile/index.ts';
import type { ReportOutbox, ReportOutboxEntry } from './report-outbox.ts';

/**
 * The one sender of the outbox: takes the oldest entry, writes it through
 * the status subresource of the Mailbox or the Device, deletes it once the
 * hub acknowledged it, and goes on; when the hub is unreachable it waits
 * (capped exponential backoff with jitter, or until woken by a reconnect).
 *
 * Exactly once: entries are full statuses sent strictly in order, and an
 * entry is sent again only when the previous attempt's outcome is unknown
 * (no answer). Before such a resend the sender reads the object back and
 * skips the entry when the hub already has it: a Mailbox status equal to the
 * entry's, or a Device whose `status.resources.outboxSequence` is at least
 * the entry's sequence. The hub also stores nothing for a write that changes
 * nothing, so even a blind resend is not a second change.
 */

/** Options of {@link Reporter}. */
export interface ReporterOptions {
  readonly api: HubApi;
  readonly outbox: ReportOutbox;
  readonly log: Logger;
  /** Called with the Device the hub returned after each device-status write (its spec carries the heartbeat period). */
  readonly onDevice?: (device: Record<string, unknown>) => void;
  readonly backoff?: Backoff;
}

/** Sends the outbox; see the module comment. */
export class Reporter {
  readonly #options: ReporterOptions;
  readonly #backoff: Backoff;
  #wake: (() => void) | undefined;
  #uncertain = false;
  #sent = 0;

  constructor(options: ReporterOptions) {
    this.#options = options;
    this.#backoff = options.backoff ?? reconnectBackoff();
  }

  /** Entries acknowledged by the hub since start. */
  get sent(): number {
    return this.#sent;
  }

  /** Something was appended: send now, unless waiting out a failure (then the backoff decides). */
  wake(): void {
    if (this.#backoff.failures === 0) this.#wake?.();
  }

  /** The hub answers again (the Mailbox watch reconnected): retry at once. */
  reconnected(): void {
    this.#wake?.();
  }

  /** Sends until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const entry = this.#options.outbox.peek();
      if (!entry) {
        await this.#sleep(signal);
        continue;
      }
      try {
        if (!(this.#uncertain && (await this.#delivered(entry, signal)))) await this.#send(entry, signal);
        this.#uncertain = false;
        this.#backoff.reset();
        this.#sent++;
        await this.#options.outbox.ack(entry.seq);
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof HubStatusError && isTerminal(error.statusCode)) {
          // This write can never succeed (invalid, or the object is gone): drop it rather than block the queue.
          this.#options.log.error(
            { seq: entry.seq, kind: entry.kind, err: error.message },
            'report refused by hub: dropped',
          );
          await this.#options.outbox.ack(entry.seq);
          continue;
        }
        this.#uncertain = error instanceof HubUnreachableError;
        await this.#sleep(signal, this.#backoff.next());
      }
    }
  }

  async #send(entry: ReportOutboxEntry, signal: AbortSignal): Promise<void> {
    const answer = await this.#options.api.request('PATCH', this.#pathOf(entry), {
      body: { status: entry.kind === 'device-status' ? withSequence(entry) : entry.status },
      signal,
    });
    if (entry.kind === 'device-status') this.#options.onDevice?.(answer);
  }

  /** Whether the hub already holds `entry` (an earlier attempt went through unanswered). */
  async #delivered(entry: ReportOutboxEntry, signal: AbortSignal): Promise<boolean> {
    const object = await this.#options.api.request<{ status?: Record<string, unknown> }>(
      'GET',
      this.#pathOf(entry),
      {
        signal,
      },
    );
    if (entry.kind === 'mailbox-status') return sameStatus(object.status, entry.status);
    const resources = object.status?.resources as { outboxSequence?: number } | undefined;
    return (resources?.outboxSequence ?? 0) >= entry.seq;
  }

  #pathOf(entry: ReportOutboxEntry): string {
    const plural = entry.kind === 'device-status' ? 'devices' : 'mailboxes';
    return `/apis/outpost.dev/v1alpha1/${plural}/${encodeURIComponent(this.#options.api.deviceName)}/status`;
  }

  #sleep(signal: AbortSignal, ms = 3_600_000): Promise<void> {
    const controller = new AbortController();
    this.#wake = () => controller.abort();
    return delay(ms, AbortSignal.any([signal, controller.signal]))
      .catch(() => {})
      .finally(() => {
        this.#wake = undefined;
      });
  }
}

function withSequence(entry: ReportOutboxEntry): Record<string, unknown> {
  const resources = (entry.status.resources ?? {}) as Record<string, unknown>;
  return { ...entry.status, resources: { ...resources, outboxSequence: entry.seq } };
}

function isTerminal(statusCode: number): boolean {
  return statusCode === 400 || statusCode === 404 || statusCode === 422;
}
