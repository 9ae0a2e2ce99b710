/**
 * Asking the hub for the enrollment's certificate while it waits for
 * approval (or after a restart that lost the answer). Each poll proves the
 * device holds its enrollment key: it signs `pollProof(name, time)` with
 * it, the time being the hub's (the hub refuses one more than five minutes
 * off its clock). The hub's time is learnt from the Date of its answers and
 * carried forward on the monotonic clock; before any answer the device's own
 * clock stands in, and a poll the hub refuses for its time is sent again at
 * once with the time that answer gave.
 */
// Types only here: the contract's functions are loaded when a poll is made (enrolling devices only).
import type { EnrollmentResponse, PollRequest } from '../../api/index.ts';
import { monotonicMs } from '../../util/index.ts';
import type { HubTls } from '../hub-client/index.ts';
import { callHub } from './hub-call.ts';
import { signWithKey } from './keys.ts';

/** What a poll answers: 202 pending, 200 with the certificate, 401 refused. */
export type PollAnswer = Awaited<ReturnType<typeof callHub<EnrollmentResponse>>>;

/** Signs and sends polls for one enrollment, keeping track of the hub's clock. */
export class EnrollmentPoller {
  readonly #url: string;
  readonly #name: string;
  readonly #keyPem: string;
  readonly #tls: HubTls;
  readonly #signal: AbortSignal | undefined;
  /** The hub's epoch milliseconds minus the monotonic clock, once an answer said. */
  #offsetMs: number | undefined;

  constructor(options: {
    hubUrl: string;
    name: string;
    keyPem: string;
    tls: HubTls;
    signal?: AbortSignal;
  }) {
    this.#url = `${options.hubUrl}/enroll/poll`;
    this.#name = options.name;
    this.#keyPem = options.keyPem;
    this.#tls = options.tls;
    this.#signal = options.signal;
  }

  /** Takes the hub's time from an answer's Date (epoch ms), when it had one. */
  learn(hubTimeMs: number | undefined): void {
    if (hubTimeMs !== undefined) this.#offsetMs = hubTimeMs - monotonicMs();
  }

  /** Sends one signed poll (twice when the first was refused for a clock the answer corrected). */
  async poll(): Promise<PollAnswer> {
    const guessed = this.#offsetMs === undefined;
    let answer = await this.#send();
    if (answer.status === 400 && guessed && this.#offsetMs !== undefined) answer = await this.#send();
    return answer;
  }

  async #send(): Promise<PollAnswer> {
    const { pollProof } = await import('../../api/index.ts');
    const now = this.#offsetMs === undefined ? Date.now() : monotonicMs() + this.#offsetMs;
    const time = new Date(now).toISOString();
    const answer = await callHub<EnrollmentResponse>(this.#url, {
      method: 'POST',
      tls: this.#tls,
      ...(this.#signal ? { signal: this.#signal } : {}),
      body: {
        name: this.#name,
        time,
        signature: signWithKey(this.#keyPem, pollProof(this.#name, time)),
      } satisfies PollRequest,
    });
    this.learn(answer.hubTimeMs);
    return answer;
  }
}
