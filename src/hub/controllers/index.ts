/**
 * The hub's controllers, wired together: the garbage collector, ClusterRole
 * aggregation, namespace deletion, device and device-profile Events beside this file, the
 * Event TTL from `../events/`, the placement, OPC UA and nested-network
 * features in their folders (`placement/`, `opcua/`, `nested/`), each added to one {@link Manager} that
 * shares informers (one cache per kind) and metrics between them.
 * `startControllers` is the one place the hub starts them: on the replica
 * that holds the controllers' lease (`src/hub/leader/`).
 */
import type { Logger } from 'pino';
import { type Client, Manager, type MetricsRegistry } from '../../controller/index.ts';
import { addEventTtl, type EventSinks, type EventTtlOptions } from '../events/index.ts';
import type { ConnectorTelemetry } from '../telemetry/index.ts';
import { addClusterRoleAggregation } from './clusterrole-aggregation.ts';
import { addCronEvents } from './cron-events.ts';
import { addDeviceEvents } from './device-events.ts';
import { addGarbageCollector, type GarbageCollectorOptions } from './garbage-collector.ts';
import { addGuardEvents } from './guard-events.ts';
import { addNamespaceReconciler } from './namespace.ts';
import { addGatewayRenderer, type GatewayRendererOptions } from './nested/index.ts';
import { addOpcUaRenderer, type OpcUaRendererOptions } from './opcua/index.ts';
import { addPlacementControllers, type PlacementControllersOptions } from './placement/index.ts';
import { addProfileEvents } from './profile-events.ts';

export {
  addClusterRoleAggregation,
  CLUSTER_ROLE_AGGREGATION_MANAGER,
  createClusterRoleAggregationReconciler,
} from './clusterrole-aggregation.ts';
export { addCronEvents, CRON_WARNING_TYPES } from './cron-events.ts';
export { addDeviceEvents } from './device-events.ts';
export { addGarbageCollector, type GarbageCollectorOptions } from './garbage-collector.ts';
export { addGuardEvents, GUARD_REASONS } from './guard-events.ts';
export {
  addNamespaceReconciler,
  createNamespaceReconciler,
  NAMESPACE_CONTROLLER_MANAGER,
  type NamespaceReconcilerOptions,
} from './namespace.ts';
export {
  addGatewayRenderer,
  GATEWAY_FIELD_MANAGER,
  GATEWAY_LABEL,
  GATEWAY_NAMESPACE,
  type GatewayRenderer,
  type GatewayRendererOptions,
} from './nested/index.ts';
export {
  addOpcUaRenderer,
  createOpcUaReconciler,
  OPCUA_FIELD_MANAGER,
  type OpcUaRenderer,
  type OpcUaRendererOptions,
} from './opcua/index.ts';
export {
  addPlacementControllers,
  type PlacementControllers,
  type PlacementControllersOptions,
} from './placement/index.ts';
export { addProfileEvents } from './profile-events.ts';

/** Which controllers run, and how. */
export interface HubControllersOptions {
  /**
   * Run the garbage collector. The ObjectService must then be built with
   * `garbageCollector: true` so that Foreground / Orphan deletes get their finalizers.
   * @default true
   */
  readonly garbageCollector?: boolean | GarbageCollectorOptions;
  /**
   * Delete the content of Namespaces being deleted, then let them go (without it a Namespace
   * deleted with content stays Terminating).
   * @default true
   */
  readonly namespaces?: boolean;
  /** Every so often, reconcile every cached object again. @default 0 (never) */
  readonly resyncPeriodMs?: number;
  /**
   * Run the placement controllers (Mailboxes, Workload and Placement status,
   * device health).
   * @default true
   */
  readonly placement?: boolean | PlacementControllersOptions;
  /** Fill aggregating ClusterRoles' rules from the ClusterRoles their selectors match. @default true */
  readonly clusterRoleAggregation?: boolean;
  /**
   * Render OpcUaConnectors into their Workloads and Placements. Its `telemetry`
   * defaults to {@link StartControllersOptions.telemetry}.
   * @default true
   */
  readonly opcua?: boolean | OpcUaRendererOptions;
  /**
   * Render each parent Device's proxy and broker for the level below (nested networks); needs the
   * hub CA, which issues the brokers' certificates. @default off
   */
  readonly gateways?: false | GatewayRendererOptions;
  /** Delete Events once they are older than their TTL (`outpost hub --event-ttl`, 1 h by default). @default true */
  readonly eventTtl?: boolean | EventTtlOptions;
}

export interface StartControllersOptions {
  /** What every controller reads and writes through (the hub's ObjectService). */
  readonly client: Client;
  readonly logger: Logger;
  /** Stops every controller and informer. */
  readonly signal: AbortSignal;
  readonly options?: HubControllersOptions;
  /** Where controller metrics go. @default a new registry (on `manager.metrics`) */
  readonly metrics?: MetricsRegistry;
  /** The hub's latest-value table, for the OpcUaConnector status. @default none */
  readonly telemetry?: ConnectorTelemetry;
  /**
   * The hub's Event recorder: the controllers tell what happened through it
   * (devices approved, unreachable, back, decommissioned; Mailboxes delivered;
   * workloads failing on devices; placement conflicts; connector errors).
   * @default none: no Events
   */
  readonly events?: EventSinks;
}

export interface RunningControllers {
  readonly manager: Manager;
  /** Settles once `signal` aborted and every controller and informer stopped. */
  readonly done: Promise<void>;
}

/** Starts every hub controller under `signal`; returns at once. */
export function startControllers(options: StartControllersOptions): RunningControllers {
  const settings = options.options ?? {};
  const manager = new Manager({
    client: options.client,
    logger: options.logger.child({ component: 'controllers' }),
    metrics: options.metrics,
    resyncPeriodMs: settings.resyncPeriodMs,
  });
  if (settings.namespaces ?? true) addNamespaceReconciler(manager);
  const gc = settings.garbageCollector ?? true;
  if (gc) addGarbageCollector(manager, gc === true ? {} : gc);
  const events = options.events;
  const placement = settings.placement ?? true;
  if (placement) addPlacementControllers(manager, { events, ...(placement === true ? {} : placement) });
  if (settings.clusterRoleAggregation ?? true) addClusterRoleAggregation(manager);
  const opcua = settings.opcua ?? true;
  if (opcua)
    addOpcUaRenderer(manager, {
      telemetry: options.telemetry,
      events: events?.sink('outpost-opcua-renderer'),
      ...(opcua === true ? {} : opcua),
    });
  if (settings.gateways) addGatewayRenderer(manager, settings.gateways);
  if (events) {
    addDeviceEvents(manager, events.sink('outpost-devices'));
    addProfileEvents(manager, events.sink('outpost-device-profiles'));
    addGuardEvents(manager, events.sink('outpost-resource-guard'));
    addCronEvents(manager, events.sink('outpost-cron'));
  }
  const ttl = settings.eventTtl ?? true;
  if (ttl) addEventTtl(manager, ttl === true ? {} : ttl);
  const done = manager.start(options.signal);
  return { manager, done };
}
