import { setMaxListeners } from 'node:events';
import pino, { type Logger } from 'pino';
import type { KindDefinition } from '../api/index.ts';
import type { Client } from './client.ts';
import type { Clock } from './clock.ts';
import { Controller, type ControllerOptions } from './controller.ts';
import { Informer } from './informer.ts';
import { MetricsRegistry } from './metrics.ts';

/** Anything that runs until its signal aborts. */
export interface Runnable {
  start(signal: AbortSignal): Promise<void>;
}

export interface ManagerOptions {
  /** What informers list and watch and reconcilers write through. */
  readonly client: Client;
  /** @default a silent logger */
  readonly logger?: Logger;
  /** @default a new registry */
  readonly metrics?: MetricsRegistry;
  /** Resync period of the informers it creates. @default 0 (never) */
  readonly resyncPeriodMs?: number;
  /** @default systemClock */
  readonly clock?: Clock;
}

/**
 * Owns the shared informers (one per kind and namespace, whoever asks) and the
 * controllers, and starts them all under one signal.
 */
export class Manager {
  readonly client: Client;
  readonly logger: Logger;
  readonly metrics: MetricsRegistry;
  readonly #options: ManagerOptions;
  readonly #informers = new Map<string, Informer>();
  readonly #runnables: Runnable[] = [];
  #started: AbortSignal | undefined;
  readonly #running: Promise<void>[] = [];

  constructor(options: ManagerOptions) {
    this.#options = options;
    this.client = options.client;
    this.logger = options.logger ?? pino({ level: 'silent' });
    this.metrics = options.metrics ?? new MetricsRegistry();
  }

  /** The shared informer of a kind (all namespaces unless `namespace`); created on first request. */
  informer(kind: KindDefinition, namespace?: string): Informer {
    const scope = kind.namespaced ? (namespace ?? '') : '';
    const id = `${kind.group}/${kind.plural}/${scope}`;
    let informer = this.#informers.get(id);
    if (!informer) {
      informer = new Informer({
        client: this.client,
        kind,
        namespace: scope || undefined,
        logger: this.logger,
        resyncPeriodMs: this.#options.resyncPeriodMs,
        clock: this.#options.clock,
      });
      this.#informers.set(id, informer);
      if (this.#started) this.#run(informer, this.#started);
    }
    return informer;
  }

  /**
   * The informers whose caches have not synced yet, named `group/plural/namespace`; empty once
   * every one has (what the hub's `/readyz` waits for).
   */
  unsyncedInformers(): string[] {
    return [...this.#informers].filter(([, informer]) => !informer.hasSynced).map(([id]) => id);
  }

  /** A controller sharing this manager's logger, metrics and clock, added to the manager. */
  controller(options: Omit<ControllerOptions, 'logger' | 'metrics'> & { logger?: Logger }): Controller {
    const controller = new Controller({
      clock: this.#options.clock,
      ...options,
      logger: options.logger ?? this.logger,
      metrics: this.metrics,
    });
    this.add(controller);
    return controller;
  }

  /** Adds something to start with the rest (started at once if the manager runs already). */
  add(runnable: Runnable): void {
    this.#runnables.push(runnable);
    if (this.#started) this.#run(runnable, this.#started);
  }

  /**
   * Starts every informer and runnable; resolves once `signal` has aborted
   * and all of them have stopped. Start once.
   */
  async start(signal: AbortSignal): Promise<void> {
    if (this.#started) throw new Error('manager started twice');
    // One signal of our own for every informer and controller: each listens on it, more than
    // Node's default of ten listeners per signal before it warns of a leak.
    const own = new AbortController();
    setMaxListeners(0, own.signal);
    if (signal.aborted) own.abort();
    else signal.addEventListener('abort', () => own.abort(), { once: true });
    this.#started = own.signal;
    for (const informer of this.#informers.values()) this.#run(informer, own.signal);
    for (const runnable of this.#runnables) this.#run(runnable, own.signal);
    if (!signal.aborted)
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    // Runnables started late push onto #running; wait until it stops growing.
    for (let seen = 0; seen < this.#running.length; ) {
      const batch = this.#running.slice(seen);
      seen = this.#running.length;
      await Promise.all(batch);
    }
  }

  #run(runnable: Runnable, signal: AbortSignal): void {
    this.#running.push(
      runnable.start(signal).catch((error: unknown) => {
        this.logger.error({ err: error }, 'a controller or informer stopped with an error');
      }),
    );
  }
}
