import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Mailbox, MailboxObject } from '../../api/index.ts';
import { delay, readFileIfExists, writeFileAtomic } from '../../util/index.ts';
import { DeviceMetrics } from './device-metrics.ts';
import { MetricTable } from './metric-table.ts';
import { type MetricsEndpoint, startMetricsEndpoint } from './metrics-endpoint.ts';
import type { Hold, ProfileEngine, SavedCondition, Transition } from './profile-engine.ts';

/** Options of {@link DevicePolicies}. */
export interface DevicePoliciesOptions {
  readonly dataDir: string;
  readonly log: Logger;
  /** The metrics endpoint's port on 127.0.0.1; 0 picks a free one; undefined: none. @default 8080 (the CLI's) */
  readonly metricsPort?: number;
  /** How long a posted metric lasts without a new POST. @default 60000 */
  readonly metricTtlMs?: number;
  /** The agent's Prometheus metrics, served by the endpoint to a GET asking for text. @default none */
  readonly exposition?: () => Promise<{ contentType: string; body: string }>;
  /** How often the agent measures its own metrics while profiles are placed. @default 5000 */
  readonly sampleMs?: number;
  /** Called when a unit's hold may have changed (a condition changed state, new profiles). */
  readonly onGateChange: () => void;
  /** Called with the transitions of conditions (after `onGateChange`). */
  readonly onTransitions?: (transitions: readonly Transition[]) => void;
}

/** The file holding the endpoint's port and the conditions' states. */
const STATE_FILE = 'policies.json';
/** How often conditions are looked at besides metric changes (`for`, expiries). */
const TICK_MS = 250;

/**
 * Device policies on the agent: the metric table, the local endpoint that
 * programs POST metrics to, the agent's own measurements, and the profile
 * engine that decides which units may run. The endpoint always listens (so
 * posting programs never get a refused connection); the engine (and jsep
 * with it) and the measurements start only once the Mailbox holds profiles
 * or objects opting into them.
 */
export class DevicePolicies {
  readonly #options: DevicePoliciesOptions;
  readonly #table: MetricTable;
  #engine: ProfileEngine | undefined;
  #loading: Promise<ProfileEngine> | undefined;
  #sampler: DeviceMetrics | undefined;
  #endpoint: MetricsEndpoint | undefined;
  #port: number | undefined;
  #saved: Map<string, SavedCondition> | undefined;
  #saving: Promise<void> = Promise.resolve();
  #dirty = false;
  /** `profile/condition` of every condition a placed object opts into: only their changes can move a unit. */
  #referenced = new Set<string>();

  constructor(options: DevicePoliciesOptions) {
    this.#options = options;
    this.#table = new MetricTable({ ttlMs: options.metricTtlMs ?? 60_000 });
  }

  /** The endpoint's port once listening. */
  get port(): number | undefined {
    return this.#port;
  }

  /** Takes a Mailbox: loads the engine when it is needed and gives it the Device's profiles. */
  async setMailbox(mailbox: Mailbox): Promise<void> {
    const profiles = mailbox.spec?.profiles ?? [];
    const needed = profiles.length > 0 || (mailbox.spec?.objects ?? []).some((o) => o.profiles?.length);
    if (!needed && !this.#engine) return;
    const engine = await this.#load();
    this.#referenced = new Set(
      (mailbox.spec?.objects ?? []).flatMap((o) =>
        (o.profiles ?? []).flatMap((ref) => ref.conditions.map((c) => `${ref.name}/${c}`)),
      ),
    );
    const transitions = engine.setProfiles(profiles, this.#saved);
    this.#saved = undefined;
    this.#changed(transitions, true);
  }

  /** Why `entry` must not run now; undefined when it may. Synchronous: the reconciler asks on each pass. */
  hold(entry: MailboxObject): Hold | undefined {
    if (!entry.profiles?.length) return undefined;
    // Opted in but the engine is not loaded yet: setMailbox has not finished, which it does before a pass.
    if (!this.#engine) return { reason: 'ProfileConditionNotMet', message: 'profiles not evaluated yet' };
    return this.#engine.hold(entry.profiles);
  }

  /** A metric's posted value while it lasts (the resource guard's override of its own readings). */
  posted(name: string): number | undefined {
    return this.#table.posted(name);
  }

  /** The Device status `profiles`, undefined while none are placed. */
  report(): ReturnType<ProfileEngine['report']> | undefined {
    const report = this.#engine?.report();
    return report && report.length > 0 ? report : undefined;
  }

  /** Runs the endpoint and the ticks until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const { log } = this.#options;
    if (this.#options.metricsPort !== undefined) {
      try {
        const endpoint = await startMetricsEndpoint(this.#options.metricsPort, {
          post: (metrics) => {
            for (const { name, value } of metrics) this.#table.post(name, value);
            if (!this.#engine) return;
            for (const { name } of metrics) this.#changed(this.#engine.evaluate(name));
          },
          read: () => this.#table.snapshot(),
          ...(this.#options.exposition ? { exposition: this.#options.exposition } : {}),
        });
        this.#endpoint = endpoint;
        this.#port = endpoint.port;
        log.info({ port: endpoint.port, address: '127.0.0.1' }, 'metrics endpoint listening');
      } catch (error) {
        // The agent runs on without it: workloads matter more than posted metrics.
        log.error(
          { port: this.#options.metricsPort, err: (error as Error).message },
          'metrics endpoint not started',
        );
      }
    }
    const sampleMs = this.#options.sampleMs ?? 5000;
    let sampledAt = 0;
    try {
      while (!signal.aborted) {
        await delay(TICK_MS, signal).catch(() => {});
        if (signal.aborted) break;
        const expired = this.#table.sweep();
        const engine = this.#engine;
        if (!engine) continue;
        if (this.#sampler && performance.now() - sampledAt >= sampleMs) {
          sampledAt = performance.now();
          this.#table.measure(await this.#sampler.sample());
          this.#changed(engine.evaluate());
        } else if (expired.length > 0 || engine.pending) {
          this.#changed(engine.evaluate());
        }
      }
    } finally {
      await this.#endpoint?.close();
      await this.#saving;
    }
  }

  async #load(): Promise<ProfileEngine> {
    if (this.#engine) return this.#engine;
    this.#loading ??= (async () => {
      const [{ ProfileEngine }, saved] = await Promise.all([
        import('./profile-engine.ts'),
        this.#readSaved(),
      ]);
      this.#saved = saved;
      this.#sampler = new DeviceMetrics(this.#options.dataDir);
      // Two samples a moment apart: cpu is a share of time between samples.
      await this.#sampler.sample();
      await delay(200);
      this.#table.measure(await this.#sampler.sample());
      this.#engine = new ProfileEngine({ metrics: (name) => this.#table.get(name) });
      this.#options.log.info('device profiles evaluated on this device');
      return this.#engine;
    })();
    return this.#loading;
  }

  #changed(transitions: readonly Transition[], always = false): void {
    if (transitions.length === 0 && !always) return;
    // A reconcile pass only when a unit's hold may move.
    if (always || transitions.some((t) => this.#referenced.has(`${t.profile}/${t.condition}`)))
      this.#options.onGateChange();
    if (transitions.length === 0) return;
    for (const t of transitions)
      this.#options.log.info(
        { profile: t.profile, condition: t.condition, state: t.state, metrics: t.metrics },
        'profile condition changed',
      );
    this.#options.onTransitions?.(transitions);
    this.#save();
  }

  #save(): void {
    // One write at a time; changes meanwhile make one more write of the latest states.
    if (this.#dirty) return;
    this.#dirty = true;
    this.#saving = this.#saving.then(async () => {
      const engine = this.#engine;
      this.#dirty = false;
      if (!engine) return;
      const text = JSON.stringify({ conditions: engine.saved() });
      await writeFileAtomic(join(this.#options.dataDir, STATE_FILE), text, 0o600).catch((error: unknown) =>
        this.#options.log.warn({ err: (error as Error).message }, 'profile states not saved'),
      );
    });
  }

  async #readSaved(): Promise<Map<string, SavedCondition>> {
    const text = await readFileIfExists(join(this.#options.dataDir, STATE_FILE)).catch(() => undefined);
    try {
      const parsed = JSON.parse(text?.toString() ?? '{}') as { conditions?: Record<string, SavedCondition> };
      return new Map(Object.entries(parsed.conditions ?? {}));
    } catch {
      return new Map();
    }
  }
}
