import { EXCLUSION_REASONS, type KubeObject } from '../../../api/index.ts';
import type { EventSink } from '../../events/index.ts';
import type { Condition } from './conditions.ts';
import type { DeviceState } from './status.ts';

/** Conditions whose turn to this status is worth a Warning Event (the Placement cannot do all it says). */
const BAD_CONDITIONS: Readonly<Record<string, Condition['status']>> = {
  Conflicted: 'True',
  Customized: 'False',
  WorkloadsFound: 'False',
};

const EXCLUDED: ReadonlySet<string> = new Set(EXCLUSION_REASONS);

/**
 * What the summaries tell as Events, each once: a device starting to fail
 * with a Workload (Warning, the agent's reason, "device NAME: message") on
 * the Workload and on the Placement, and a condition turning bad
 * (`Conflicted` True, `Customized` False, `WorkloadsFound` False; Warning,
 * the condition's reason and message).
 *
 * Summaries run again and again over the same state: what was told is
 * remembered per summary key (per device, its failure's reason and message),
 * so that a pass that finds nothing new tells nothing. The memory is per hub
 * process: a new leader tells the failures it finds once more.
 */
export class RolloutEvents {
  readonly #events: EventSink;
  /** Per summary key, per failing device, the failure told (`reason NUL message`). */
  readonly #told = new Map<string, Map<string, string>>();

  constructor(events: EventSink) {
    this.#events = events;
  }

  /**
   * Tells the failures of `states` not told before for `key` (left-out objects
   * aside: their conditions tell them), and forgets devices no longer failing.
   */
  failures(key: string, object: KubeObject, states: ReadonlyMap<string, DeviceState>): void {
    const before = this.#told.get(key);
    const now = new Map<string, string>();
    for (const [device, state] of states) {
      const failure = state.failure;
      if (!failure || EXCLUDED.has(failure.reason)) continue;
      const told = `${failure.reason}\u0000${failure.message}`;
      now.set(device, told);
      if (before?.get(device) === told) continue;
      this.#events.record(
        object,
        'Warning',
        failure.reason,
        `device ${device}: ${failure.message}`,
        'Rollout',
      );
    }
    if (now.size > 0) this.#told.set(key, now);
    else this.#told.delete(key);
  }

  /** Tells each condition that turned bad (or bad for another reason) between `previous` and `next`. */
  conditions(
    object: KubeObject,
    previous: readonly Condition[] | undefined,
    next: readonly Condition[],
  ): void {
    for (const condition of next) {
      if (BAD_CONDITIONS[condition.type] !== condition.status) continue;
      const before = previous?.find((c) => c.type === condition.type);
      if (before?.status === condition.status && before.reason === condition.reason) continue;
      this.#events.record(object, 'Warning', condition.reason, condition.message, 'Rollout');
    }
  }

  /** The object is gone: nothing is remembered for it. */
  forget(key: string): void {
    this.#told.delete(key);
  }
}
