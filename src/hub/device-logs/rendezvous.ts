import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { LogRequest } from '../../api/index.ts';
import { ApiError } from '../kube-api/index.ts';

/**
 * Where a person's log request meets the device's agent. The hub never
 * connects to devices: the agent long-polls for the requests waiting for it
 * and answers each with an upload. The rendezvous is per process (a request
 * is found only by an agent polling this replica): see docs/architecture.md.
 */

/** The agent's answer: the output as a stream, or the failure it met. */
export type LogAnswer =
  | { readonly kind: 'stream'; readonly body: IncomingMessage }
  | { readonly kind: 'error'; readonly error: ApiError };

/** Options of {@link LogRendezvous}. */
export interface LogRendezvousOptions {
  /** How long a request waits for the agent's answer to begin. @default 10000 */
  readonly answerTimeoutMs?: number;
  /** How long an agent's poll is held when nothing is asked. @default 25000 */
  readonly pollMs?: number;
}

interface Pending {
  readonly device: string;
  readonly request: LogRequest;
  /** Handed to a poll; no other poll gets it. */
  claimed: boolean;
  /** Called with the agent's answer; returns when the person's side is finished with it. */
  readonly deliver: (answer: LogAnswer) => Promise<void>;
}

interface Poller {
  readonly take: (requests: LogRequest[]) => void;
}

/** The per-process meeting point of log requests and agents' polls. */
export class LogRendezvous {
  readonly #answerTimeoutMs: number;
  readonly #pollMs: number;
  readonly #pending = new Map<string, Pending>();
  /** Polls waiting, per device, oldest first. */
  readonly #pollers = new Map<string, Poller[]>();

  constructor(options: LogRendezvousOptions = {}) {
    this.#answerTimeoutMs = options.answerTimeoutMs ?? 10_000;
    this.#pollMs = options.pollMs ?? 25_000;
  }

  /**
   * Asks `device` for logs and calls `use` with the agent's answer; resolves
   * once `use` is done. Rejects with a 504 Status naming the device when no
   * answer begins within the answer timeout, and with the signal's reason
   * when the person goes away first.
   */
  ask(
    device: string,
    wanted: Omit<LogRequest, 'id'>,
    signal: AbortSignal,
    use: (answer: LogAnswer) => Promise<void>,
  ): Promise<void> {
    const request: LogRequest = { id: randomUUID(), ...wanted };
    return new Promise<void>((resolve, reject) => {
      const finish = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.#pending.delete(request.id);
      };
      const onAbort = () => {
        finish();
        reject(signal.reason);
      };
      const timer = setTimeout(() => {
        finish();
        reject(
          new ApiError(
            504,
            'Timeout',
            `device "${device}" did not answer the log request within ${Math.round(this.#answerTimeoutMs / 1000)}s: its agent is not connected to this hub`,
          ),
        );
      }, this.#answerTimeoutMs);
      signal.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(request.id, {
        device,
        request,
        claimed: false,
        deliver: (answer) => {
          finish();
          const used = use(answer);
          used.then(resolve, reject);
          return used;
        },
      });
      if (signal.aborted) onAbort();
      else this.#hand(device);
    });
  }

  /**
   * An agent's poll: the requests waiting for `device`, at once when there
   * are some, else the first ones asked within the poll time (or none).
   */
  poll(device: string, signal: AbortSignal): Promise<LogRequest[]> {
    const waiting = this.#unclaimed(device);
    if (waiting.length > 0 || signal.aborted) return Promise.resolve(waiting);
    return new Promise<LogRequest[]>((resolve) => {
      const poller: Poller = {
        take: (requests) => {
          done();
          resolve(requests);
        },
      };
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        const list = this.#pollers.get(device) ?? [];
        const index = list.indexOf(poller);
        if (index >= 0) list.splice(index, 1);
        if (list.length === 0) this.#pollers.delete(device);
      };
      const onAbort = () => {
        done();
        resolve([]);
      };
      const timer = setTimeout(onAbort, this.#pollMs);
      signal.addEventListener('abort', onAbort, { once: true });
      const list = this.#pollers.get(device);
      if (list) list.push(poller);
      else this.#pollers.set(device, [poller]);
    });
  }

  /**
   * Delivers the agent's answer to request `id` of `device`; resolves when
   * the person's side is done with it.
   * @throws ApiError 404 when no such request waits (it timed out, or the person left).
   */
  answer(device: string, id: string, answer: LogAnswer): Promise<void> {
    const pending = this.#pending.get(id);
    if (!pending || pending.device !== device)
      return Promise.reject(
        new ApiError(404, 'NotFound', `log request "${id}" of device "${device}" is not waiting`),
      );
    return pending.deliver(answer);
  }

  /** Requests waiting for a poll (for metrics and tests). */
  get waiting(): number {
    return [...this.#pending.values()].filter((pending) => !pending.claimed).length;
  }

  /** Gives the device's waiting requests to its oldest waiting poll, if any. */
  #hand(device: string): void {
    const poller = this.#pollers.get(device)?.[0];
    if (!poller) return;
    const requests = this.#unclaimed(device);
    if (requests.length > 0) poller.take(requests);
  }

  /** Claims and returns the device's requests no poll has taken yet. */
  #unclaimed(device: string): LogRequest[] {
    const found: LogRequest[] = [];
    for (const pending of this.#pending.values()) {
      if (pending.device !== device || pending.claimed) continue;
      pending.claimed = true;
      found.push(pending.request);
    }
    return found;
  }
}
