import {
  type Expression,
  evaluate,
  type MetricLookup,
  type ProfileRef,
  type ProfileSpec,
  parseDuration,
  parseExpression,
} from '../../api/policy/index.ts';
import { monotonicMs } from '../../util/index.ts';

/**
 * The device's profile conditions and their states. Each condition is
 * evaluated over the metric table when a metric it reads changes and on every
 * tick (for `for` and expiries); its state changes only when the expression,
 * leaned toward the current state by the condition's hysteresis band, says
 * otherwise, and (toward true) only once that has lasted `for`. Loaded by
 * the agent only when its Mailbox holds profiles (it brings jsep).
 */

/** Why a unit is held back (not run), in its status. */
export interface Hold {
  readonly reason: 'ProfileConditionNotMet' | 'ProfileNotDeclared';
  readonly message: string;
}

/** A condition's state, kept across agent restarts. */
export interface SavedCondition {
  readonly expression: string;
  readonly state: boolean;
  readonly lastTransitionTime: string;
}

/** A change of a condition's state. */
export interface Transition {
  readonly profile: string;
  readonly condition: string;
  readonly state: boolean;
  readonly metrics: Record<string, number | null>;
}

/** A condition as the Device status reports it. */
export interface ConditionReport {
  name: string;
  state: 'True' | 'False';
  value?: boolean;
  metrics: Record<string, number | null>;
  pendingSince?: string;
  lastTransitionTime: string;
}

interface Condition {
  readonly profile: string;
  readonly name: string;
  readonly text: string;
  readonly expression: Expression | undefined;
  readonly forMs: number;
  readonly band: number;
  state: boolean;
  /** Monotonic ms since the expression has held while `for` runs. */
  pendingSince: number | undefined;
  pendingSinceWall: string | undefined;
  lastTransitionTime: string;
}

/** Options of {@link ProfileEngine}. */
export interface ProfileEngineOptions {
  readonly metrics: MetricLookup;
  /** @default () => new Date() */
  readonly now?: () => Date;
  /** @default monotonicMs */
  readonly monotonic?: () => number;
}

/** Evaluates profiles; see the module comment. */
export class ProfileEngine {
  readonly #options: ProfileEngineOptions;
  #profiles = new Map<string, Map<string, Condition>>();
  #byMetric = new Map<string, Condition[]>();
  #all: Condition[] = [];
  #signature = '';

  constructor(options: ProfileEngineOptions) {
    this.#options = options;
  }

  /**
   * Takes the Device's profiles (from the Mailbox). Conditions whose
   * expression, `for` and hysteresis are unchanged keep their state; new ones
   * start from `saved` (the states before an agent restart) when their
   * expression is the same, else from an evaluation now. Returns the
   * transitions this caused (new conditions are not transitions).
   */
  setProfiles(profiles: readonly ProfileSpec[], saved?: ReadonlyMap<string, SavedCondition>): Transition[] {
    const signature = JSON.stringify(profiles);
    if (signature === this.#signature) return [];
    this.#signature = signature;
    const before = this.#profiles;
    const next = new Map<string, Map<string, Condition>>();
    const all: Condition[] = [];
    const nowWall = this.#wall();
    for (const profile of profiles) {
      const conditions = new Map<string, Condition>();
      for (const spec of profile.conditions ?? []) {
        const forMs = spec.for !== undefined ? (parseDuration(spec.for) ?? 0) : 0;
        const band = spec.hysteresis ?? 0;
        const old = before.get(profile.name)?.get(spec.name);
        if (old && old.text === spec.expression && old.forMs === forMs && old.band === band) {
          conditions.set(spec.name, old);
          all.push(old);
          continue;
        }
        let expression: Expression | undefined;
        try {
          expression = parseExpression(spec.expression);
        } catch {
          // The hub refuses such a Device; a Mailbox written otherwise holds the condition false.
          expression = undefined;
        }
        const restored = saved?.get(`${profile.name}/${spec.name}`);
        const condition: Condition = {
          profile: profile.name,
          name: spec.name,
          text: spec.expression,
          expression,
          forMs,
          band,
          state: false,
          pendingSince: undefined,
          pendingSinceWall: undefined,
          lastTransitionTime: nowWall,
        };
        if (restored && restored.expression === spec.expression) {
          condition.state = restored.state;
          condition.lastTransitionTime = restored.lastTransitionTime;
        } else if (expression) {
          const value = evaluate(expression, this.#options.metrics);
          if (value && forMs > 0) this.#startPending(condition);
          else condition.state = value;
        }
        conditions.set(spec.name, condition);
        all.push(condition);
      }
      next.set(profile.name, conditions);
    }
    this.#profiles = next;
    this.#all = all;
    this.#byMetric = new Map();
    for (const condition of all)
      for (const metric of condition.expression?.metrics ?? []) {
        const list = this.#byMetric.get(metric) ?? [];
        list.push(condition);
        this.#byMetric.set(metric, list);
      }
    // Kept conditions may have changed meaning under the new profile set: evaluate all now.
    return this.evaluate();
  }

  /** Evaluates the conditions reading `metric` (all of them without one); returns the transitions. */
  evaluate(metric?: string): Transition[] {
    const conditions = metric === undefined ? this.#all : (this.#byMetric.get(metric) ?? []);
    const transitions: Transition[] = [];
    for (const condition of conditions) {
      if (this.#step(condition)) transitions.push(this.#transition(condition));
    }
    return transitions;
  }

  /** Whether some condition is counting down its `for` (then ticks matter). */
  get pending(): boolean {
    return this.#all.some((condition) => condition.pendingSince !== undefined);
  }

  /** Why a unit opting into `refs` must not run now; undefined when every condition named holds. */
  hold(refs: readonly ProfileRef[] | undefined): Hold | undefined {
    if (!refs) return undefined;
    for (const ref of refs) {
      const profile = this.#profiles.get(ref.name);
      if (!profile)
        return { reason: 'ProfileNotDeclared', message: `this device declares no profile ${ref.name}` };
      for (const name of ref.conditions) {
        const condition = profile.get(name);
        if (!condition)
          return {
            reason: 'ProfileNotDeclared',
            message: `profile ${ref.name} of this device declares no condition ${name}`,
          };
        if (!condition.state)
          return {
            reason: 'ProfileConditionNotMet',
            message: `profile ${ref.name} condition ${name} (${condition.text}) does not hold${describeMetrics(this.#metricsOf(condition))}`,
          };
      }
    }
    return undefined;
  }

  /** Every profile's conditions, for the Device status. */
  report(): Array<{ name: string; conditions: ConditionReport[] }> {
    return [...this.#profiles].map(([name, conditions]) => ({
      name,
      conditions: [...conditions.values()].map((c) => ({
        name: c.name,
        state: c.state ? 'True' : 'False',
        ...(c.expression ? { value: evaluate(c.expression, this.#options.metrics) } : {}),
        metrics: this.#metricsOf(c),
        ...(c.pendingSinceWall ? { pendingSince: c.pendingSinceWall } : {}),
        lastTransitionTime: c.lastTransitionTime,
      })),
    }));
  }

  /** The states to keep across a restart, by `profile/condition`. */
  saved(): Record<string, SavedCondition> {
    const out: Record<string, SavedCondition> = {};
    for (const c of this.#all)
      out[`${c.profile}/${c.name}`] = {
        expression: c.text,
        state: c.state,
        lastTransitionTime: c.lastTransitionTime,
      };
    return out;
  }

  /** Advances one condition; true when its state changed. */
  #step(condition: Condition): boolean {
    if (!condition.expression) return false;
    const lean = condition.state ? 1 : -1;
    const value = evaluate(condition.expression, this.#options.metrics, lean, condition.band);
    if (value === condition.state) {
      condition.pendingSince = undefined;
      condition.pendingSinceWall = undefined;
      return false;
    }
    if (value && condition.forMs > 0) {
      if (condition.pendingSince === undefined) {
        this.#startPending(condition);
        return false;
      }
      if (this.#monotonic() - condition.pendingSince < condition.forMs) return false;
    }
    condition.state = value;
    condition.pendingSince = undefined;
    condition.pendingSinceWall = undefined;
    condition.lastTransitionTime = this.#wall();
    return true;
  }

  #startPending(condition: Condition): void {
    condition.pendingSince = this.#monotonic();
    condition.pendingSinceWall = this.#wall();
  }

  #transition(condition: Condition): Transition {
    return {
      profile: condition.profile,
      condition: condition.name,
      state: condition.state,
      metrics: this.#metricsOf(condition),
    };
  }

  #metricsOf(condition: Condition): Record<string, number | null> {
    const out: Record<string, number | null> = {};
    for (const name of condition.expression?.metrics ?? []) out[name] = this.#options.metrics(name) ?? null;
    return out;
  }

  #wall(): string {
    return (this.#options.now ?? (() => new Date()))().toISOString();
  }

  #monotonic(): number {
    return (this.#options.monotonic ?? monotonicMs)();
  }
}

function describeMetrics(metrics: Record<string, number | null>): string {
  const parts = Object.entries(metrics).map(([name, value]) => `${name}=${value ?? 'nil'}`);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}
