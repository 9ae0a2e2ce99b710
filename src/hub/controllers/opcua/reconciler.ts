import type { KubeObject, OpcUaConnectorStatus } from '../../../api/index.ts';
import {
  type Client,
  type Informer,
  type ReconcileResult,
  type Reconciler,
  splitKey,
} from '../../../controller/index.ts';
import { type EventSink, NO_EVENTS } from '../../events/index.ts';
import type { ConnectorTelemetry } from '../../telemetry/index.ts';
import type { Condition } from '../placement/index.ts';
import { kindOf, timestamp } from '../support.ts';
import { connectionsOf } from './connections.ts';
import { ConnectorEvents } from './connector-events.ts';
import { resolveCredentials } from './credentials.ts';
import { type Blocked, ensureOwned, OPCUA_FIELD_MANAGER, OwnWrites } from './owned.ts';
import { controlledBy, type Rendered, renderConnector } from './render.ts';
import { connectorStatus, sameStatus } from './status.ts';

/** The caches the renderer reads. */
export type OpcUaInformers = Readonly<
  Record<'connectors' | 'workloads' | 'placements' | 'secrets' | 'devices', Informer>
>;

export interface OpcUaReconcilerOptions {
  readonly service: Client;
  readonly informers: OpcUaInformers;
  /**
   * The hub's latest-value table: with it, the status counts connected devices
   * and tells the last value time per device.
   * @default none (the status has the Placement's counts only)
   */
  readonly telemetry?: ConnectorTelemetry;
  /** Wall-clock time (condition transitions). @default () => new Date() */
  readonly now?: () => Date;
  /**
   * Last value times in the status are refreshed this often at most (and
   * rechecked this often while values arrive); smaller moves write nothing.
   * @default 30_000
   */
  readonly valueTimeRefreshMs?: number;
  /** Where rendering problems and connection errors are told as Events. @default none */
  readonly events?: EventSink;
}

/** What the connector renders to, or why it cannot render. */
type Rendering = { readonly ok: true; readonly desired: Rendered } | (Blocked & { readonly ok: false });

/** How soon to look again while the cache has not caught up with our own write. */
const CACHE_LAG_RECHECK_MS = 20;

/**
 * The OpcUaConnector reconciler, keyed by connector (`namespace/name`), in
 * steps: read the connector from the cache; render the objects it should own
 * (its Workload and Placement) from it and its credentials; for each owned
 * object in turn, compare the cached one with the rendering and create or
 * update it (in place, the cached resourceVersion as precondition); then
 * write the status when it changed. It writes nothing when everything
 * already holds; it never takes over an object of the same name that it does
 * not control (Rendered=False, `Conflict`). A connector gone or being deleted
 * is done: the garbage collector removes what it owned.
 */
export function createOpcUaReconciler(options: OpcUaReconcilerOptions): Reconciler {
  const { service, informers } = options;
  const now = options.now ?? (() => new Date());
  const refreshMs = options.valueTimeRefreshMs ?? 30_000;
  const connectorKind = kindOf(service, 'OpcUaConnector');
  const owned = {
    workload: { def: kindOf(service, 'Workload'), informer: informers.workloads },
    placement: { def: kindOf(service, 'Placement'), informer: informers.placements },
  };
  const writes = new OwnWrites();
  const told = new ConnectorEvents(options.events ?? NO_EVENTS);

  /**
   * Read: the live connector, undefined when gone or going, or 'behind' while
   * the cache has not yet caught up with one of our own writes to it or to
   * what it owns (deciding on the older copy would only conflict).
   */
  function read(key: string): KubeObject | 'behind' | undefined {
    const { namespace, name } = splitKey(key);
    const connector = informers.connectors.get(namespace, name);
    if (!connector || connector.metadata.deletionTimestamp) return undefined;
    const behind =
      writes.lagging('OpcUaConnector', key, connector) ||
      writes.lagging('Workload', key, informers.workloads.get(namespace, name)) ||
      writes.lagging('Placement', key, informers.placements.get(namespace, name));
    return behind ? 'behind' : connector;
  }

  /** Render: the objects the connector should own, or why it cannot have them (its Secret missing). */
  function render(connector: KubeObject): Rendering {
    const credentials = resolveCredentials(connector, (ns, secret) => informers.secrets.get(ns, secret));
    if (!credentials.ok) return credentials;
    return { ok: true, desired: renderConnector(connector, credentials.credentials) };
  }

  /** Compare and write each owned object, the Workload first (the Placement places it); stops at the first blocked. */
  async function writeOwned(desired: Rendered, uid: string): Promise<Blocked | undefined> {
    return (
      (await ensureOwned(service, writes, owned.workload, desired.workload, uid)) ??
      (await ensureOwned(service, writes, owned.placement, desired.placement, uid))
    );
  }

  /** Status: what was rendered or why not, the Placement's counts and the devices' connections; written when changed. */
  async function writeStatus(
    key: string,
    connector: KubeObject,
    rendered: Rendered | undefined,
    problem: Blocked | undefined,
  ): Promise<ReconcileResult | undefined> {
    const { namespace, name } = splitKey(key);
    const uid = connector.metadata.uid!;
    const placement = informers.placements.get(namespace, name);
    const connections = connectionsOf(connector, options.telemetry, informers.devices);
    const status = connectorStatus({
      connector,
      rendered: rendered && { workload: name, placement: name, configHash: rendered.configHash },
      problem,
      placement: placement && controlledBy(placement, uid) ? placement : undefined,
      connections,
      now: timestamp(now()),
    });
    const previous = connector.status as OpcUaConnectorStatus | undefined;
    if (!sameStatus(previous, status, refreshMs)) {
      const stored = await service.update(
        connectorKind,
        namespace,
        name,
        { ...connector, status } as KubeObject,
        { fieldManager: OPCUA_FIELD_MANAGER, stored: connector, borrowBody: true },
        'status',
      );
      writes.remember('OpcUaConnector', key, String(stored.revision));
      told.rendered(
        connector,
        previous?.conditions as Condition[] | undefined,
        status.conditions as Condition[],
      );
    }
    told.connections(key, connector, connections);
    // While values arrive, look again now and then so that last value times follow.
    return connections?.some((c) => c.lastValueTime !== undefined) ? { requeueAfter: refreshMs } : undefined;
  }

  return {
    name: 'opcua-renderer',
    async reconcile(key) {
      const connector = read(key);
      if (connector === undefined) {
        told.forget(key);
        return;
      }
      if (connector === 'behind') return { requeueAfter: CACHE_LAG_RECHECK_MS };
      const rendering = render(connector);
      if (!rendering.ok) return writeStatus(key, connector, undefined, rendering);
      const problem = await writeOwned(rendering.desired, connector.metadata.uid!);
      return writeStatus(key, connector, problem ? undefined : rendering.desired, problem);
    },
  };
}
