/**
 * The OpcUaConnector renderer: each connector becomes a Workload (its
 * StatefulSet and `config.yaml` Secret) and a Placement, owned by it, kept
 * equal to what the connector says, and summarised back into its status.
 */
import type {
  Device,
  KindDefinition,
  KubeObject,
  OpcUaConnectorSpec,
  OpcUaConnectorStatus,
} from '../../api/index.ts';
import {
  type Client,
  type Controller,
  type Informer,
  keyFor,
  keyOf,
  type Manager,
  type Reconciler,
  splitKey,
} from '../../controller/index.ts';
import { POD_SECURITY_EXEMPT_RENDERER, type Requester } from '../admission/index.ts';
import { ApiError } from '../kube-api/index.ts';
import type { ConnectorTelemetry } from '../telemetry/index.ts';
import { kindOf, timestamp } from './mailbox.ts';
import {
  type Connection,
  connectorStatus,
  controlledBy,
  credentialsSecretKey,
  renderConnector,
  resolveCredentials,
  sameStatus,
  updateFor,
} from './opcua/index.ts';
import { selects } from './placement/index.ts';

/** The field manager of every write the renderer makes. */
export const OPCUA_FIELD_MANAGER = 'outpost-opcua-renderer';
/**
 * Who the renderer writes as: Pod Security admission exempts it (the pod it renders is fixed
 * and needs host networking to reach the agent's local MQTT endpoint, which `baseline` forbids).
 */
const RENDERER: Requester = { user: POD_SECURITY_EXEMPT_RENDERER, groups: [] };

export interface OpcUaRendererOptions {
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
  /** @default 2 */
  readonly workers?: number;
}

/** What {@link addOpcUaRenderer} set up, for tests. */
export interface OpcUaRenderer {
  readonly controller: Controller;
  readonly informers: Readonly<
    Record<'connectors' | 'workloads' | 'placements' | 'secrets' | 'devices', Informer>
  >;
  /** Whether nothing is queued or running (delayed rechecks aside). */
  idle(): boolean;
}

const SECRET_INDEX = 'opcua:credentials-secret';
/** How long a write of ours may take to reach the cache before the cache is trusted again. */
const CACHE_LAG_LIMIT_MS = 5000;

/**
 * Adds the renderer to a manager. Keyed by connector (`namespace/name`); it
 * is queued by the connector's own events, by events of the Workload and
 * Placement it owns or whose name it claims (a hand edit is put back, a
 * deleted one re-created, their status summarised), by changes of the Secret
 * its credentials come from, and by the telemetry table when a device's
 * connector reports.
 */
export function addOpcUaRenderer(manager: Manager, options: OpcUaRendererOptions = {}): OpcUaRenderer {
  const service = manager.client;
  const informers = {
    connectors: manager.informer(kindOf(service, 'OpcUaConnector')),
    workloads: manager.informer(kindOf(service, 'Workload')),
    placements: manager.informer(kindOf(service, 'Placement')),
    secrets: manager.informer(secretKind(service)),
    devices: manager.informer(kindOf(service, 'Device')),
  };
  informers.connectors.addIndex(SECRET_INDEX, (connector) => {
    const key = credentialsSecretKey(connector);
    return key === undefined ? [] : [key];
  });
  const controller = manager.controller({
    reconciler: createOpcUaReconciler({ ...options, service, informers }),
    workers: options.workers ?? 2,
  });
  controller.watch(informers.connectors);
  /** A rendered object's connector: its controller, and the connector of the same name (whose name it takes). */
  const connectorsOf = (object: KubeObject) => {
    const keys = new Set<string>();
    for (const ref of object.metadata.ownerReferences ?? []) {
      if (ref.kind === 'OpcUaConnector' && ref.apiVersion === 'outpost.dev/v1alpha1')
        keys.add(keyFor(object.metadata.namespace, ref.name));
    }
    if (informers.connectors.get(object.metadata.namespace, object.metadata.name!)) keys.add(keyOf(object));
    return keys;
  };
  controller.watch(informers.workloads, connectorsOf);
  controller.watch(informers.placements, connectorsOf);
  controller.watch(informers.secrets, (secret) =>
    informers.connectors.byIndex(SECRET_INDEX, keyOf(secret)).map(keyOf),
  );
  controller.reads(informers.devices);
  const telemetry = options.telemetry;
  if (telemetry) {
    manager.add({
      async start(signal) {
        const off = telemetry.onConnectorChange((namespace, name) =>
          controller.enqueue(keyFor(namespace, name)),
        );
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        off();
      },
    });
  }
  return {
    controller,
    informers,
    idle: () => controller.queue.length === 0 && controller.queue.processing === 0,
  };
}

interface ReconcilerOptions extends OpcUaRendererOptions {
  readonly service: Client;
  readonly informers: OpcUaRenderer['informers'];
}

/** A rendered object that cannot be written, and why (for the Rendered condition). */
interface Blocked {
  readonly reason: string;
  readonly message: string;
}

/**
 * The reconciler: rereads the connector from the cache, renders its objects,
 * creates the missing ones and updates (in place, with the cached
 * resourceVersion as precondition) those that differ from the rendering,
 * then writes the status when it changed. It writes nothing when everything
 * already holds; it never takes over an object of the same name that it does
 * not control (Rendered=False, `Conflict`).
 */
export function createOpcUaReconciler(options: ReconcilerOptions): Reconciler {
  const { service, informers } = options;
  const now = options.now ?? (() => new Date());
  const refreshMs = options.valueTimeRefreshMs ?? 30_000;
  const connectorKind = kindOf(service, 'OpcUaConnector');
  const workloadKind = kindOf(service, 'Workload');
  const placementKind = kindOf(service, 'Placement');
  /** Our last write of each object: its resourceVersion and when, until the cache shows it. */
  const written = new Map<string, { revision: number; at: number }>();
  const lagging = (kind: string, key: string, cached: KubeObject | undefined) => {
    const mark = written.get(`${kind}:${key}`);
    if (!mark) return false;
    if (
      Number(cached?.metadata.resourceVersion ?? 0) >= mark.revision ||
      Date.now() - mark.at > CACHE_LAG_LIMIT_MS
    ) {
      written.delete(`${kind}:${key}`);
      return false;
    }
    return true;
  };
  const remember = (kind: string, key: string, resourceVersion: string | undefined) =>
    written.set(`${kind}:${key}`, { revision: Number(resourceVersion ?? 0), at: Date.now() });

  /**
   * Makes the cached object hold `desired`: undefined once it does (or was just written), else
   * why not. A write the API refuses as invalid (422: an admission check) is a status, not a
   * retry: only a change can fix it, and a change queues the connector again.
   */
  async function ensure(
    def: KindDefinition,
    informer: Informer,
    desired: KubeObject,
    uid: string,
  ): Promise<Blocked | undefined> {
    try {
      return await write(def, informer, desired, uid);
    } catch (error) {
      if (error instanceof ApiError && error.code === 422)
        return { reason: 'Refused', message: error.message };
      throw error;
    }
  }

  async function write(
    def: KindDefinition,
    informer: Informer,
    desired: KubeObject,
    uid: string,
  ): Promise<Blocked | undefined> {
    const namespace = desired.metadata.namespace!;
    const name = desired.metadata.name!;
    const live = informer.get(namespace, name);
    const what = `${def.kind} ${namespace}/${name}`;
    if (!live) {
      const stored = await service.create(def, namespace, desired, {
        fieldManager: OPCUA_FIELD_MANAGER,
        requester: RENDERER,
        borrowBody: true,
      });
      remember(def.kind, keyOf(desired), String(stored.revision));
      return undefined;
    }
    if (!controlledBy(live, uid)) {
      return {
        reason: 'Conflict',
        message: `${what} exists and is not controlled by this connector: delete or rename it`,
      };
    }
    if (live.metadata.deletionTimestamp) {
      // Its deletion event queues the connector again: it is then created anew.
      return { reason: 'Terminating', message: `${what} is being deleted` };
    }
    const next = updateFor(live, desired);
    if (!next) return undefined;
    const stored = await service.update(def, namespace, name, next, {
      fieldManager: OPCUA_FIELD_MANAGER,
      requester: RENDERER,
      stored: live,
      borrowBody: true,
    });
    remember(def.kind, keyOf(desired), String(stored.revision));
    return undefined;
  }

  /** Per matched device, what its connector last reported; undefined without telemetry. */
  const connectionsOf = (connector: KubeObject): Connection[] | undefined => {
    const telemetry = options.telemetry;
    if (!telemetry) return undefined;
    const states = new Map(
      telemetry
        .connectorDevices(connector.metadata.namespace!, connector.metadata.name!)
        .map((s) => [s.device, s]),
    );
    const selector = (connector.spec as OpcUaConnectorSpec).devices;
    const connections: Connection[] = [];
    for (const device of informers.devices.list()) {
      if (device.metadata.deletionTimestamp || !selects(selector, device.metadata.labels)) continue;
      const name = device.metadata.name!;
      const state = states.get(name);
      const unreachable = (device.status as Device['status'])?.phase === 'Unreachable';
      // The last status message says; without one (a hub restarted since), values arriving say
      // connected: a connector publishes only while connected to its server.
      const saysConnected = state?.status?.connected ?? state?.lastValueAt !== undefined;
      const error = unreachable
        ? 'device unreachable'
        : (state?.status?.error ?? (state?.status || saysConnected ? undefined : 'no status reported yet'));
      connections.push({
        device: name,
        connected: !unreachable && saysConnected,
        ...(error === undefined ? {} : { error }),
        ...(state?.lastValueAt === undefined
          ? {}
          : { lastValueTime: timestamp(new Date(state.lastValueAt)) }),
      });
    }
    return connections;
  };

  return {
    name: 'opcua-renderer',
    async reconcile(key) {
      const { namespace, name } = splitKey(key);
      const connector = informers.connectors.get(namespace, name);
      // Gone or going: the garbage collector removes what it owned.
      if (!connector || connector.metadata.deletionTimestamp) return;
      if (
        lagging('OpcUaConnector', key, connector) ||
        lagging('Workload', key, informers.workloads.get(namespace, name)) ||
        lagging('Placement', key, informers.placements.get(namespace, name))
      ) {
        // Our own write is on its way to the cache: deciding on the older copy would only conflict.
        return { requeueAfter: 20 };
      }
      const uid = connector.metadata.uid!;
      const credentials = resolveCredentials(connector, (ns, secret) => informers.secrets.get(ns, secret));
      let problem: Blocked | undefined;
      let rendered: { workload: string; placement: string; configHash: string } | undefined;
      if (!credentials.ok) {
        problem = credentials;
      } else {
        const desired = renderConnector(connector, credentials.credentials);
        problem =
          (await ensure(workloadKind, informers.workloads, desired.workload, uid)) ??
          (await ensure(placementKind, informers.placements, desired.placement, uid));
        if (!problem) rendered = { workload: name, placement: name, configHash: desired.configHash };
      }
      const placement = informers.placements.get(namespace, name);
      const connections = connectionsOf(connector);
      const status = connectorStatus({
        connector,
        rendered,
        problem,
        placement: placement && controlledBy(placement, uid) ? placement : undefined,
        connections,
        now: timestamp(now()),
      });
      if (!sameStatus(connector.status as OpcUaConnectorStatus | undefined, status, refreshMs)) {
        const stored = await service.update(
          connectorKind,
          namespace,
          name,
          { ...connector, status } as KubeObject,
          { fieldManager: OPCUA_FIELD_MANAGER, stored: connector, borrowBody: true },
          'status',
        );
        remember('OpcUaConnector', key, String(stored.revision));
      }
      // While values arrive, look again now and then so that last value times follow.
      return connections?.some((c) => c.lastValueTime !== undefined)
        ? { requeueAfter: refreshMs }
        : undefined;
    },
  };
}

function secretKind(service: Pick<Client, 'registry'>): KindDefinition {
  const def = service.registry.byKind('v1', 'Secret');
  if (!def) throw new Error('the registry does not serve Secret');
  return def;
}
