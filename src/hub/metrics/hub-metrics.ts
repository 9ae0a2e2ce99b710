import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { MetricsRegistry } from '../../controller/index.ts';
import type { CommitObserver } from '../../store/index.ts';

/** The labels of one API request, as the apiserver's `apiserver_request_*` carry them. */
export interface RequestLabels {
  /** GET, LIST, WATCH, POST, PUT, PATCH, APPLY, DELETE (resources); the HTTP method otherwise. */
  readonly verb: string;
  readonly group: string;
  readonly version: string;
  readonly resource: string;
  readonly subresource: string;
  /** resource, namespace, cluster; '' for non-resource requests. */
  readonly scope: string;
}

/** Seconds, as the apiserver's request duration buckets (shortened at the top). */
const REQUEST_BUCKETS = [0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 1.5, 2, 3, 5, 10, 30, 60];
/** Seconds: a group commit takes a fraction of a millisecond on SQLite without fsync, seconds on a slow disk. */
const COMMIT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
/** Writes per group commit (PostgreSQL caps a batch at 2000). */
const BATCH_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000];

/**
 * One hub's metrics: a prom-client registry of its own (several hubs may run
 * in one process, as in tests) holding the API, store and process series,
 * plus the controller runtime's registry, which the controllers of every
 * leadership term share. {@link render} gives both in the Prometheus text format.
 */
export class HubMetrics {
  readonly registry = new Registry();
  /** Given to `startControllers`: reconcile totals and durations, retries, queue depth. */
  readonly controllers = new MetricsRegistry();
  readonly #requests: Counter<keyof RequestLabels | 'code'>;
  readonly #durations: Histogram<keyof RequestLabels>;
  readonly #longRunning: Gauge<keyof RequestLabels>;
  readonly #commitSeconds: Histogram;
  readonly #commitWrites: Histogram;
  readonly #commitFailures: Counter;
  readonly #pipelinedCommits: Counter;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    // Gauges named as counters (promtool's lint refuses them), each the sum of its unsuffixed twin.
    for (const name of [
      'nodejs_active_handles_total',
      'nodejs_active_requests_total',
      'nodejs_active_resources_total',
    ])
      this.registry.removeSingleMetric(name);
    const labelNames = ['verb', 'group', 'version', 'resource', 'subresource', 'scope'] as const;
    this.#requests = new Counter({
      name: 'apiserver_request_total',
      help: 'API requests by verb, group, version, resource, subresource, scope and HTTP code.',
      labelNames: [...labelNames, 'code'],
      registers,
    });
    this.#durations = new Histogram({
      name: 'apiserver_request_duration_seconds',
      help: 'How long API requests took until their answer was sent, watches excluded.',
      labelNames,
      buckets: REQUEST_BUCKETS,
      registers,
    });
    this.#longRunning = new Gauge({
      name: 'apiserver_longrunning_requests',
      help: 'Long-running requests (watches) open now.',
      labelNames,
      registers,
    });
    this.#commitSeconds = new Histogram({
      name: 'outpost_store_commit_duration_seconds',
      help: 'How long a group commit of the store took (one transaction for every write queued meanwhile).',
      buckets: COMMIT_BUCKETS,
      registers,
    });
    this.#commitWrites = new Histogram({
      name: 'outpost_store_commit_writes',
      help: 'Writes per group commit of the store (the batch size).',
      buckets: BATCH_BUCKETS,
      registers,
    });
    this.#commitFailures = new Counter({
      name: 'outpost_store_commit_failures_total',
      help: 'Group commits that failed (none of their writes happened).',
      registers,
    });
    this.#pipelinedCommits = new Counter({
      name: 'outpost_store_pipelined_commits_total',
      help: 'Group commits with writes prepared while the commit before them was running (SQLite writer thread).',
      registers,
    });
  }

  /** Counts one answered request and, unless it was a watch, its duration. */
  observeRequest(labels: RequestLabels, code: number, seconds: number): void {
    this.#requests.inc({ ...labels, code: String(code) });
    if (labels.verb !== 'WATCH') this.#durations.observe(labels, seconds);
  }

  /** A long-running request started; call the returned function once when it ends. */
  longRunning(labels: RequestLabels): () => void {
    this.#longRunning.inc(labels);
    return () => this.#longRunning.dec(labels);
  }

  /** The store's commit observer (`onCommit` of the store's options). */
  readonly onCommit: CommitObserver = ({ writes, seconds, failed, pipelined }) => {
    this.#commitSeconds.observe(seconds);
    this.#commitWrites.observe(writes);
    if (failed) this.#commitFailures.inc();
    if (pipelined) this.#pipelinedCommits.inc();
  };

  /** Every series in the Prometheus text format (version 0.0.4). */
  async render(): Promise<string> {
    return (await this.registry.metrics()) + this.controllers.render();
  }
}
