/**
 * An in-process harness for tests of the hub's controllers with Events (not
 * exported by the door): a real ObjectService over SQLite (the controller
 * runtime's test service), the placement controllers, device Events and the
 * Event TTL on one Manager, and the hub's EventRecorder, all on one manual
 * wall clock and monotonic clock. The one place that builds them, so that
 * tests move to another harness by changing this file.
 */
import pino from 'pino';
import { eventKind, type KubeObject } from '../../../src/api/index.ts';
import { type Controller, Manager } from '../../../src/controller/index.ts';
import {
  addDeviceEvents,
  addPlacementControllers,
  type PlacementControllers,
} from '../../../src/hub/controllers/index.ts';
import { addEventTtl, EventRecorder, type EventRecorderOptions } from '../../../src/hub/events/index.ts';
import { ApiError, type ObjectService, parse } from '../../../src/hub/kube-api/index.ts';
import { eventually, startTestService, type TestService } from './service.ts';

/** A Kubernetes Event as tests read it. */
export interface EventJson extends KubeObject {
  involvedObject: { kind: string; name: string; namespace?: string; uid?: string };
  reason: string;
  message: string;
  type: string;
  count: number;
  series?: { count: number; lastObservedTime: string };
  source?: { component?: string };
}

export interface ControllersTestEnv {
  readonly test: TestService;
  readonly service: ObjectService;
  readonly recorder: EventRecorder;
  readonly placement: PlacementControllers;
  readonly ttl: Controller;
  /** The controllers' and the recorder's wall clock. */
  now(): Date;
  /** Moves the wall clock and the monotonic clock (heartbeat timing, rate limits) together. */
  advance(ms: number): void;
  create(kind: string, body: object): Promise<KubeObject>;
  get(kind: string, name: string, namespace?: string): Promise<KubeObject | undefined>;
  patch(kind: string, name: string, patch: object, namespace?: string, status?: boolean): Promise<void>;
  remove(kind: string, name: string, namespace?: string): Promise<void>;
  /** Every Event stored, optionally only those about objects of `kind` (and `name`), oldest first. */
  events(about?: { kind?: string; name?: string; reason?: string }): Promise<EventJson[]>;
  /** Waits until no controller has work queued or running and the recorder wrote what it queued. */
  settled(): Promise<void>;
  stop(): Promise<void>;
}

export interface ControllersTestEnvOptions {
  /** The recorder's limits and windows (its clocks are the env's). */
  readonly recorder?: Omit<EventRecorderOptions, 'service' | 'now' | 'clock'>;
  readonly progressDeadlineMs?: number;
  /** @default 3_600_000 */
  readonly ttlMs?: number;
}

/** Starts the controllers with Events over a fresh store; namespaces `default` and `team` exist. */
export async function startControllersEnv(
  options: ControllersTestEnvOptions = {},
): Promise<ControllersTestEnv> {
  const test = await startTestService();
  const { service } = test;
  let wall = Date.parse('2026-06-01T12:00:00Z');
  let monotonic = 1_000_000;
  const now = () => new Date(wall);
  const recorder = new EventRecorder({
    instance: 'test-hub',
    ...options.recorder,
    service,
    now,
    clock: () => monotonic,
  });
  const manager = new Manager({ client: service, logger: pino({ level: 'silent' }) });
  const placement = addPlacementControllers(manager, {
    now,
    progressDeadlineMs: options.progressDeadlineMs,
    mailboxWorkers: 8,
    events: recorder,
  });
  addDeviceEvents(manager, recorder.sink('outpost-devices'));
  const ttl = addEventTtl(manager, { ttlMs: options.ttlMs, now });
  const abort = new AbortController();
  const stopped = manager.start(abort.signal);
  // Events are served in two groups (v1 and events.k8s.io); the stored kind is the core one.
  const def = (kind: string) => (kind === 'Event' ? eventKind : test.kind(kind));
  const idle = () =>
    placement.idle() && ttl.queue.length === 0 && ttl.queue.processing === 0 && ttl.queue.coalesced === 0;

  const env: ControllersTestEnv = {
    test,
    service,
    recorder,
    placement,
    ttl,
    now,
    advance(ms) {
      wall += ms;
      monotonic += ms;
    },
    async create(kind, body) {
      const object = body as KubeObject;
      return parse(
        await service.create(def(kind), object.metadata.namespace, object, { fieldManager: 'test' }),
      );
    },
    async get(kind, name, namespace) {
      try {
        return parse(await service.get(def(kind), namespace, name));
      } catch (error) {
        if (error instanceof ApiError && error.code === 404) return undefined;
        throw error;
      }
    },
    async patch(kind, name, patch, namespace, status) {
      await service.patch(
        def(kind),
        namespace,
        name,
        'merge',
        patch,
        { fieldManager: 'test' },
        status ? 'status' : undefined,
      );
    },
    async remove(kind, name, namespace) {
      await service.delete(def(kind), namespace, name, {});
    },
    async events(about = {}) {
      const { items } = await service.list(eventKind, undefined, {});
      return items
        .map((item) => parse(item) as EventJson)
        .filter(
          (e) =>
            (about.kind === undefined || e.involvedObject.kind === about.kind) &&
            (about.name === undefined || e.involvedObject.name === about.name) &&
            (about.reason === undefined || e.reason === about.reason),
        )
        .sort((a, b) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion));
    },
    async settled() {
      // Quiet twice in a row, a few turns apart: a watch event or a queued Event may be on its way.
      await eventually(
        async () => {
          await recorder.flush();
          if (!idle()) return false;
          await new Promise((resolve) => setTimeout(resolve, 30));
          await recorder.flush();
          return idle();
          // A pass over thousands of devices on a loaded machine takes longer than eventually's default.
        },
        'controllers idle and Events written',
        60_000,
      );
    },
    async stop() {
      abort.abort();
      await stopped;
      await recorder.close();
      await test.close();
    },
  };
  await env.create('Namespace', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } });
  return env;
}
