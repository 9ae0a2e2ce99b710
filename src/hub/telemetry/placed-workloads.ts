/**
 * Which Workloads are placed on which device, from the Mailboxes: every
 * object in a device's Mailbox carries its source namespace and Workload.
 * What a device sends up under `devices/<d>/{telemetry,status,acks}/<ns>/<name>`
 * is accepted only while Workload `<ns>/<name>` is placed on it: an
 * OpcUaConnector renders its Workload under its own name (owned by it), so
 * a device publishes only for the connectors placed on it, and a workload
 * of its own only under its own name. Commands go to the devices the
 * connector's Workload is placed on (routes.ts checks the Workload is the
 * connector's).
 *
 * Every replica keeps its own index from the store, as the Device index:
 * an informer over Mailboxes that keeps of each only the `namespace/workload`
 * pairs of its objects (not the objects, which hold Secrets), indexed by pair.
 *
 * Hazard: the index follows the Mailbox a moment after it is written, and a
 * device's workload starts only after its agent has read that Mailbox
 * (through the hub), so the first message of a new placement finds it in
 * the index; with replicas, the replica a device's MQTT connection reaches
 * may lag the one that served its Mailbox by its watch delay (a message in
 * that window is dropped, logged once). A workload removed from a device
 * stops being accepted as its Mailbox loses it; messages its agent kept on
 * disk for it while offline are dropped then.
 */
import type { Logger } from 'pino';
import type { KubeObject, Mailbox } from '../../api/index.ts';
import { type Client, Informer } from '../../controller/index.ts';

/** What the telemetry code asks of the index. */
export interface WorkloadPlacements {
  /** Whether Workload `namespace/workload` is placed on `device` (its Mailbox holds an object of it). */
  placed(device: string, namespace: string, workload: string): boolean;
  /** The devices Workload `namespace/workload` is placed on, sorted. */
  devices(namespace: string, workload: string): string[];
}

/** Options of {@link PlacedWorkloads.start}. */
export interface PlacedWorkloadsStartOptions {
  /** Stops the informer. */
  readonly signal: AbortSignal;
  readonly logger?: Logger;
}

const BY_SOURCE = 'source';

/** The index; {@link start} it (and await it) before serving devices. Empty until then. */
export class PlacedWorkloads implements WorkloadPlacements {
  #mailboxes: Informer | undefined;

  placed(device: string, namespace: string, workload: string): boolean {
    const mailbox = this.#mailboxes?.get(undefined, device);
    return sourcesOf(mailbox).includes(pair(namespace, workload));
  }

  devices(namespace: string, workload: string): string[] {
    if (!this.#mailboxes) return [];
    return this.#mailboxes
      .byIndex(BY_SOURCE, pair(namespace, workload))
      .map((mailbox) => mailbox.metadata.name!)
      .sort();
  }

  /**
   * Starts an informer over the Mailboxes, which lists them and follows them
   * until `signal` aborts; resolves once the first list is in (or `signal`
   * aborted first).
   */
  async start(client: Client, options: PlacedWorkloadsStartOptions): Promise<void> {
    const kind = client.registry.byKind('outpost.dev/v1alpha1', 'Mailbox');
    if (!kind) throw new Error('the client must serve outpost.dev/v1alpha1 Mailbox');
    const mailboxes = new Informer({
      client,
      kind,
      logger: options.logger?.child({ component: 'placed-workloads' }),
      transform: placementsOf,
    });
    mailboxes.addIndex(BY_SOURCE, sourcesOf);
    this.#mailboxes = mailboxes;
    mailboxes.start(options.signal).catch((err: unknown) => {
      options.logger?.error({ err }, 'placed-workloads index stopped');
    });
    await mailboxes.waitForSync(options.signal);
  }
}

/** An index of fixed placements (tests): device -> `namespace/workload` pairs. */
export function fixedPlacements(placements: Readonly<Record<string, readonly string[]>>): WorkloadPlacements {
  return {
    placed: (device, namespace, workload) => (placements[device] ?? []).includes(pair(namespace, workload)),
    devices: (namespace, workload) =>
      Object.keys(placements)
        .filter((device) => placements[device]!.includes(pair(namespace, workload)))
        .sort(),
  };
}

function pair(namespace: string, workload: string): string {
  return `${namespace}/${workload}`;
}

/** What the cache keeps of a Mailbox: its name and the distinct sources of its objects (in `spec.sources`). */
function placementsOf(mailbox: KubeObject): KubeObject {
  const objects = (mailbox.spec as Mailbox['spec'])?.objects ?? [];
  const sources = [...new Set(objects.map((entry) => pair(entry.source.namespace, entry.source.workload)))];
  const { name, resourceVersion } = mailbox.metadata;
  return {
    apiVersion: mailbox.apiVersion,
    kind: mailbox.kind,
    metadata: { name, resourceVersion },
    spec: { sources },
  };
}

function sourcesOf(mailbox: KubeObject | undefined): string[] {
  return ((mailbox?.spec as { sources?: string[] } | undefined)?.sources ?? []) as string[];
}
