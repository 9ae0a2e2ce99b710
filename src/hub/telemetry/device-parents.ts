/**
 * Which device is below which gateway, for the MQTT-over-TLS listener: a
 * gateway's bridge may carry the topics of the devices below it (its
 * children, theirs...) and of nobody else, and of live Devices only (a
 * decommissioned child's topics are refused the moment its deletion arrives).
 *
 * Every replica keeps its own index from the store, as the Device index does:
 * an informer over Devices that keeps of each only its name, uid, parent and
 * deletion. Heartbeats (nearly every Device write) are skipped unparsed when
 * the text still names the same uid and the same `"parent":"..."` values
 * (a change of `spec.parent` always changes them: a value comes or goes).
 */
import type { Logger } from 'pino';
import type { Device, KubeObject } from '../../api/index.ts';
import { type Client, Informer } from '../../controller/index.ts';

/** What the listener asks of the index. */
export interface DeviceParents {
  /** Whether the Device exists and is not being deleted. */
  live(name: string): boolean;
  /** Whether `device` is live and below `gateway` (its child, or a child's child...), both live. */
  below(gateway: string, device: string): boolean;
}

/** Options of {@link DeviceParentIndex.start}. */
export interface DeviceParentIndexStartOptions {
  /** Stops the informer. */
  readonly signal: AbortSignal;
  readonly logger?: Logger;
}

/** Parent chains are at most this long (levels 0 to 5 descend strictly; admission refuses cycles). */
const MAX_DEPTH = 16;

/** The index; {@link start} it (and await it) before serving gateways. Empty until then. */
export class DeviceParentIndex implements DeviceParents {
  #devices: Informer | undefined;

  live(name: string): boolean {
    return liveIn((n) => this.#devices?.get(undefined, n), name);
  }

  below(gateway: string, device: string): boolean {
    return belowIn((n) => this.#devices?.get(undefined, n), gateway, device);
  }

  /** Lists and follows the Devices until `signal` aborts; resolves once the first list is in. */
  async start(client: Client, options: DeviceParentIndexStartOptions): Promise<void> {
    const kind = client.registry.byKind('outpost.dev/v1alpha1', 'Device');
    if (!kind) throw new Error('the client must serve outpost.dev/v1alpha1 Device');
    const devices = new Informer({
      client,
      kind,
      logger: options.logger?.child({ component: 'device-parents' }),
      transform: parentOf,
      unchanged: sameParent,
    });
    this.#devices = devices;
    devices.start(options.signal).catch((err: unknown) => {
      options.logger?.error({ err }, 'device-parents index stopped');
    });
    await devices.waitForSync(options.signal);
  }
}

/** A fixed tree (tests): device -> its parent (undefined for a top-level device). */
export function fixedParents(parents: Readonly<Record<string, string | undefined>>): DeviceParents {
  const get = (name: string): KubeObject | undefined =>
    name in parents
      ? { apiVersion: 'v1', kind: 'Device', metadata: { name }, spec: { parent: parents[name] } }
      : undefined;
  return { live: (name) => liveIn(get, name), below: (gateway, device) => belowIn(get, gateway, device) };
}

type Lookup = (name: string) => KubeObject | undefined;

function liveIn(get: Lookup, name: string): boolean {
  const device = get(name);
  return device !== undefined && !device.metadata.deletionTimestamp;
}

function belowIn(get: Lookup, gateway: string, device: string): boolean {
  if (!liveIn(get, gateway) || !liveIn(get, device)) return false;
  let name = device;
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    const current = get(name);
    if (!current || current.metadata.deletionTimestamp) return false;
    const parent = (current.spec as Device['spec'] | undefined)?.parent;
    if (parent === undefined) return false;
    if (parent === gateway) return true;
    name = parent;
  }
  return false;
}

/** What the cache keeps of a Device: name, uid, deletion, parent, and the text's `"parent"` values. */
function parentOf(device: KubeObject): KubeObject {
  const { name, uid, resourceVersion, deletionTimestamp } = device.metadata;
  const parent = (device.spec as Device['spec'] | undefined)?.parent;
  return {
    apiVersion: device.apiVersion,
    kind: device.kind,
    metadata: deletionTimestamp
      ? { name, uid, resourceVersion, deletionTimestamp }
      : { name, uid, resourceVersion },
    spec: parent === undefined ? {} : { parent },
    // Every `"parent":"..."` in the object's text (spec, status.nested, a label named so), sorted.
    status: { parentValues: parentValues(JSON.stringify(device)) },
  };
}

/** The values of every `"parent":"..."` in a JSON text, sorted and joined. */
function parentValues(text: string): string {
  const values: string[] = [];
  const pattern = /"parent":"([^"\\]*)"/g;
  for (let match = pattern.exec(text); match; match = pattern.exec(text)) values.push(match[1]!);
  return values.sort().join('\u0000');
}

/**
 * Whether a heartbeat leaves the cached parent as it is, without parsing it:
 * same uid, no deletion, and the same `"parent":"..."` values (spec.parent
 * changed or removed changes them).
 */
function sameParent(text: string, cached: KubeObject): boolean {
  return (
    !cached.metadata.deletionTimestamp &&
    !text.includes('"deletionTimestamp"') &&
    text.includes(`"uid":"${cached.metadata.uid}"`) &&
    parentValues(text) === (cached.status as { parentValues?: string }).parentValues
  );
}
