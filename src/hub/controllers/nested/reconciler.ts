import { isDeepStrictEqual } from 'node:util';
import {
  type Device,
  gatewayBrokerUrl,
  gatewayPorts,
  gatewayProxyUrl,
  type KindDefinition,
  type KubeObject,
  type ObjectStatus,
} from '../../../api/index.ts';
import { type Client, type Informer, type Reconciler, statusCodeOf } from '../../../controller/index.ts';
import type { CertificateAuthority } from '../../pki/index.ts';
import { controlledBy, updateFor } from '../opcua/index.ts';
import { kindOf } from '../support.ts';
import {
  BROKER_NAME,
  type Child,
  childNetworksOf,
  GATEWAY_LABEL,
  GATEWAY_NAMESPACE,
  gatewayObjectName,
  PROXY_NAME,
  rememberedAddresses,
  renderGateway,
  type Upstream,
} from './render.ts';
import { gatewayTls } from './tls.ts';

/** The Device informer's index of children by parent name (added by the controller's wiring). */
export const CHILDREN_INDEX = 'nested:parent';
/** The Device informer's index of devices by the proxy their agent reports using (`status.system.hubProxy`). */
export const REPORTED_PROXY_INDEX = 'nested:reported-proxy';
/** The Device informer's index of gateways by their own proxy's URL (`spec.gateway`). */
export const PROXY_URL_INDEX = 'nested:proxy-url';

/**
 * How long after its last heartbeat a device that moved to another parent,
 * and whose agent still reported using this gateway's proxy, is admitted by
 * it: an agent that follows its Device switches at its next heartbeat (15 s
 * by default); one that went silent is not admitted for ever.
 */
export const MOVING_CHILD_MS = 10 * 60_000;

/** The URL of the gateway's own proxy, once it says where the level below reaches it. */
export function proxyUrlOf(device: KubeObject): string | undefined {
  const spec = device.spec as Device['spec'];
  const address = spec?.gateway?.address;
  return address ? gatewayProxyUrl(address, gatewayPorts(spec).proxyPort) : undefined;
}

/** The field manager of every write the gateway renderer makes. */
export const GATEWAY_FIELD_MANAGER = 'outpost-gateway-renderer';

/** The caches the renderer reads. */
export type GatewayInformers = Readonly<
  Record<'devices' | 'workloads' | 'placements' | 'mailboxes', Informer>
>;

/** Options of {@link createGatewayReconciler}. */
export interface GatewayReconcilerOptions {
  readonly service: Client;
  readonly informers: GatewayInformers;
  /** The hub's API URL, once it listens: the proxies' only CONNECT target. @default none (proxies allow nothing) */
  readonly hubUrl?: () => string | undefined;
  /** The hub's external MQTT broker, for top-level gateways' bridges. @default none (no upward bridge) */
  readonly hubMqtt?: string;
  /**
   * The hub's MQTT-over-TLS listener (`mqtts://HOST:PORT`), where top-level gateways bridge with
   * their bridge certificates (preferred to `hubMqtt`). @default none
   */
  readonly hubMqttTls?: string;
  /** The hub CA: it issues each gateway broker's certificates and is the one its listener trusts. */
  readonly ca: CertificateAuthority;
}

type NestedStatus = NonNullable<NonNullable<Device['status']>['nested']>;

/**
 * The gateway reconciler, keyed by Device name. For a device with children
 * (live Devices whose `spec.parent` names it) it makes its Workload and
 * Placement (`outpost-system/gateway-<name>`, see render.ts) hold the
 * rendering and labels the device so that the Placement selects it; for a
 * device without children it deletes them and drops the label. Then it
 * writes the device's `status.nested` (its children, the health of its proxy
 * and broker from its Mailbox status, and for a child, how its parent is).
 * Each write is made only when the cached object differs, in place with the
 * cached resourceVersion as precondition (a conflict throws: backoff).
 */
export function createGatewayReconciler(options: GatewayReconcilerOptions): Reconciler {
  const { service, informers } = options;
  const kinds = {
    device: kindOf(service, 'Device'),
    workload: kindOf(service, 'Workload'),
    placement: kindOf(service, 'Placement'),
  };

  function liveChildren(name: string): KubeObject[] {
    return informers.devices.byIndex(CHILDREN_INDEX, name).filter((d) => !d.metadata.deletionTimestamp);
  }

  /** Every live device below `name` (children, theirs...); levels descend, the visited set bounds it anyway. */
  function below(name: string, seen = new Set<string>([name])): string[] {
    const found: string[] = [];
    for (const child of liveChildren(name)) {
      const childName = child.metadata.name!;
      if (seen.has(childName)) continue;
      seen.add(childName);
      found.push(childName, ...below(childName, seen));
    }
    return found;
  }

  function childrenOf(name: string): Child[] {
    return liveChildren(name)
      .map((d) => {
        const under = below(d.metadata.name!, new Set([name, d.metadata.name!]));
        return {
          name: d.metadata.name!,
          addresses: [...((d.status as Device['status'])?.system?.addresses ?? [])],
          ...(under.length > 0 ? { below: under.sort() } : {}),
        };
      })
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * Devices that moved to another parent (or lost theirs) while their agent
   * still reports using this gateway's proxy, within {@link MOVING_CHILD_MS}
   * of their last heartbeat: its proxy keeps admitting them, or an agent
   * whose old parent re-rendered first would be cut off from the hub before
   * it learns the new proxy (from the Device its next heartbeat gets back).
   */
  function movingChildren(device: KubeObject, now: number): Child[] {
    const url = proxyUrlOf(device);
    if (url === undefined) return [];
    return informers.devices
      .byIndex(REPORTED_PROXY_INDEX, url)
      .filter((d) => {
        if (d.metadata.deletionTimestamp || (d.spec as Device['spec'])?.parent === device.metadata.name)
          return false;
        const beat = Date.parse((d.status as Device['status'])?.lastHeartbeatTime ?? '');
        return Number.isFinite(beat) && now - beat < MOVING_CHILD_MS;
      })
      .map((d) => ({
        name: d.metadata.name!,
        addresses: [...((d.status as Device['status'])?.system?.addresses ?? [])],
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  function upstreamOf(device: KubeObject): Upstream {
    const parentName = (device.spec as Device['spec'])?.parent;
    const parent = parentName === undefined ? undefined : informers.devices.get(undefined, parentName);
    const address = (parent?.spec as Device['spec'])?.gateway?.address;
    return {
      hubUrl: options.hubUrl?.(),
      hubMqtt: options.hubMqtt,
      hubMqttTls: options.hubMqttTls,
      ...(parent && address ? { parent: { address, ...gatewayPorts(parent.spec as Device['spec']) } } : {}),
    };
  }

  async function ensure(
    def: KindDefinition,
    informer: Informer,
    desired: KubeObject,
    uid: string,
  ): Promise<void> {
    const live = informer.get(GATEWAY_NAMESPACE, desired.metadata.name!);
    if (!live) {
      await service.create(def, GATEWAY_NAMESPACE, desired, { fieldManager: GATEWAY_FIELD_MANAGER });
      return;
    }
    // Never take over an object of that name someone else made; its deletion queues the device again.
    if (!controlledBy(live, uid) || live.metadata.deletionTimestamp) return;
    const next = updateFor(live, desired);
    if (next)
      await service.update(def, GATEWAY_NAMESPACE, desired.metadata.name!, next, {
        fieldManager: GATEWAY_FIELD_MANAGER,
        stored: live,
      });
  }

  async function remove(
    def: KindDefinition,
    informer: Informer,
    name: string,
    uid: string | undefined,
  ): Promise<void> {
    const live = informer.get(GATEWAY_NAMESPACE, name);
    if (!live || !controlledBy(live, uid) || live.metadata.deletionTimestamp) return;
    try {
      await service.delete(def, GATEWAY_NAMESPACE, name, { preconditions: { uid: live.metadata.uid } });
    } catch (error) {
      if (statusCodeOf(error) !== 404) throw error;
    }
  }

  /** Sets or drops the gateway label on the Device (its Placement selects it by the label). */
  async function label(device: KubeObject, gateway: boolean): Promise<KubeObject> {
    const name = device.metadata.name!;
    const labels = { ...device.metadata.labels };
    if (gateway === (labels[GATEWAY_LABEL] === name)) return device;
    if (gateway) labels[GATEWAY_LABEL] = name;
    else delete labels[GATEWAY_LABEL];
    const stored = await service.update(
      kinds.device,
      undefined,
      name,
      { ...device, metadata: { ...device.metadata, labels } },
      { fieldManager: GATEWAY_FIELD_MANAGER, stored: device },
    );
    return JSON.parse(stored.value) as KubeObject;
  }

  function health(device: string, app: string): { ready: boolean; message?: string } {
    const mailbox = informers.mailboxes.get(undefined, device);
    const objects = ((mailbox?.status as { objects?: ObjectStatus[] } | undefined)?.objects ?? []).filter(
      (o) => o.ref.kind === 'Deployment' && o.ref.name === app,
    );
    if (objects.length === 0) return { ready: false, message: 'not reported by the gateway yet' };
    const ready = objects.every((o) => o.phase === 'Running' && o.ready !== false);
    const message = objects.map((o) => o.message ?? o.reason).find((m) => m !== undefined);
    return message === undefined ? { ready } : { ready, message };
  }

  /** The proxy URL of the device's parent, for its agent to use; none while the parent declares no address. */
  function parentProxyOf(device: KubeObject): string | undefined {
    const upstream = upstreamOf(device).parent;
    return upstream ? gatewayProxyUrl(upstream.address, upstream.proxyPort) : undefined;
  }

  /** `mqtts://ADDRESS:PORT` of the parent's broker, once the parent says where it is reached. */
  function parentBroker(device: KubeObject): string | undefined {
    const upstream = upstreamOf(device).parent;
    if (!upstream || parentState(device) === 'ParentMissing') return undefined;
    return gatewayBrokerUrl(upstream.address, upstream.brokerPort);
  }

  function parentState(device: KubeObject): string | undefined {
    const parentName = (device.spec as Device['spec'])?.parent;
    if (parentName === undefined) return undefined;
    const parent = informers.devices.get(undefined, parentName);
    if (!parent || parent.metadata.deletionTimestamp) return 'ParentMissing';
    return (parent.status as Device['status'])?.phase === 'Unreachable' ? 'ParentUnreachable' : 'Reachable';
  }

  async function writeStatus(device: KubeObject, children: readonly Child[], serves: boolean): Promise<void> {
    const nested: NestedStatus = {};
    if (serves) {
      nested.children = children.map((c) => c.name);
      nested.workload = `${GATEWAY_NAMESPACE}/${gatewayObjectName(device.metadata.name!)}`;
      nested.proxy = health(device.metadata.name!, PROXY_NAME);
      nested.broker = health(device.metadata.name!, BROKER_NAME);
    }
    const parent = parentState(device);
    if (parent !== undefined) nested.parent = parent;
    const hubProxy = parentProxyOf(device);
    if (hubProxy !== undefined) nested.hubProxy = hubProxy;
    const broker = parentBroker(device);
    if (broker !== undefined) nested.parentBroker = broker;
    const status = (device.status ?? {}) as NonNullable<Device['status']>;
    const empty = Object.keys(nested).length === 0;
    if (empty ? status.nested === undefined : isDeepStrictEqual(status.nested, nested)) return;
    const next = { ...status };
    if (empty) delete next.nested;
    else next.nested = nested;
    await service.update(
      kinds.device,
      undefined,
      device.metadata.name!,
      { ...device, status: next } as KubeObject,
      { fieldManager: GATEWAY_FIELD_MANAGER, stored: device },
      'status',
    );
  }

  return {
    name: 'gateway-renderer',
    async reconcile(key) {
      const device = informers.devices.get(undefined, key);
      // Gone or going: the garbage collector removes what it owned.
      if (!device || device.metadata.deletionTimestamp) return;
      const uid = device.metadata.uid;
      const name = gatewayObjectName(key);
      const children = childrenOf(key);
      const moving = movingChildren(device, Date.now());
      let current = device;
      // A gateway declaring child networks keeps its proxy between children: devices enroll through it.
      const serves = children.length > 0 || moving.length > 0 || childNetworksOf(device).length > 0;
      if (serves) {
        const live = informers.workloads.get(GATEWAY_NAMESPACE, name);
        const before = live && controlledBy(live, uid) ? rememberedAddresses(live) : undefined;
        const tls = await gatewayTls(options.ca, device, live);
        const rendered = renderGateway(device, children, upstreamOf(device), tls, before, moving);
        await ensure(kinds.workload, informers.workloads, rendered.workload, uid!);
        await ensure(kinds.placement, informers.placements, rendered.placement, uid!);
        current = await label(device, true);
      } else {
        await remove(kinds.placement, informers.placements, name, uid);
        await remove(kinds.workload, informers.workloads, name, uid);
        current = await label(device, false);
      }
      await writeStatus(current, children, serves);
      // Rendered before the hub listened: its proxy allows nothing yet; look again once it does.
      if (serves && options.hubUrl && options.hubUrl() === undefined) return { requeueAfter: 1000 };
      // A moving child that falls silent leaves no event behind: look again once its time may be up.
      if (moving.length > 0) return { requeueAfter: 60_000 };
      return undefined;
    },
  };
}
