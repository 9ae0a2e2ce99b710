/**
 * The latest-value table: per hub process, in memory, the newest value of
 * every feature (keyed by device, namespace, connector, feature), and per
 * device and connector the last `status` message and the time of the last
 * value. Fed with every message devices send up (from the embedded broker,
 * or from the external one with `--mqtt`); read by the HTTP endpoints, the
 * watch streams and the OpcUaConnector status (through {@link ConnectorTelemetry}).
 */
import { parseUpwardTopic } from './topics.ts';

/** One feature's latest value, as the HTTP API serves it. */
export interface TelemetryValue {
  readonly device: string;
  readonly namespace: string;
  readonly connector: string;
  readonly feature: string;
  readonly value: unknown;
  /** When the OPC UA server sampled it (from the message), when the connector said. */
  readonly sourceTimestamp?: string;
  /** When this hub received it (ISO 8601). */
  readonly receivedAt: string;
  /** The connector run's sequence number, when the message carried one. */
  readonly seq?: number;
}

/** A connector's `status` message (`devices/<d>/status/<ns>/<connector>`). */
export interface ConnectorStatusMessage {
  /** Whether the connector is connected to its OPC UA server. */
  readonly connected: boolean;
  readonly server?: string;
  readonly error?: string;
  /** When the connector wrote it. */
  readonly at?: string;
}

/** What the hub knows of one connector on one device. */
export interface ConnectorDeviceState {
  readonly device: string;
  readonly namespace: string;
  readonly connector: string;
  /** The last status message, if one arrived since this hub started. */
  readonly status?: ConnectorStatusMessage;
  /** When the last status message arrived (ISO 8601). */
  readonly statusReceivedAt?: string;
  /** When the last value of any feature arrived (ISO 8601). */
  readonly lastValueAt?: string;
}

/**
 * What other hub code (the OpcUaConnector renderer) may read: the devices
 * that reported a connector, and a signal when that changes.
 */
export interface ConnectorTelemetry {
  /** Every device that sent a status or a value for connector `namespace/name`, sorted by device. */
  connectorDevices(namespace: string, name: string): ConnectorDeviceState[];
  /**
   * Calls `listener(namespace, name)` when a connector's device states change
   * in a way worth a status update: a status message arrived, or a device
   * sent its first value. Not on every value (thousands per second). Returns
   * the unsubscribe function.
   */
  onConnectorChange(listener: (namespace: string, name: string) => void): () => void;
}

/** Narrows a read of the table; every field given must match. */
export interface TelemetryFilter {
  readonly namespace?: string;
  readonly connector?: string;
  readonly device?: string;
}

/** Options of {@link LatestValues}. */
export interface LatestValuesOptions {
  /** Features kept per device (a device may publish anything under its prefix). @default 10_000 */
  readonly maxFeaturesPerDevice?: number;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

/** An ack message, as {@link LatestValues.accept} hands it on. */
export interface AckMessage {
  readonly device: string;
  readonly namespace: string;
  readonly connector: string;
  readonly body: Record<string, unknown>;
}

const SEP = '\u0000';

/** The table. {@link accept} feeds it; reads and listeners serve the API. */
export class LatestValues implements ConnectorTelemetry {
  readonly #values = new Map<string, TelemetryValue>();
  /** `ns SEP connector` -> device -> state. */
  readonly #connectors = new Map<string, Map<string, ConnectorDeviceState>>();
  readonly #featureCount = new Map<string, number>();
  readonly #valueListeners = new Set<(value: TelemetryValue) => void>();
  readonly #connectorListeners = new Set<(namespace: string, name: string) => void>();
  readonly #ackListeners = new Set<(ack: AckMessage) => void>();
  readonly #maxFeatures: number;
  readonly #now: () => Date;
  #refused = 0;

  constructor(options: LatestValuesOptions = {}) {
    this.#maxFeatures = options.maxFeaturesPerDevice ?? 10_000;
    this.#now = options.now ?? (() => new Date());
  }

  /**
   * Takes one message a device sent up. Messages whose topic or payload do
   * not have the contract's shape are ignored (returns false).
   */
  accept(topic: string, payload: Buffer | string): boolean {
    const parsed = parseUpwardTopic(topic);
    if (!parsed) return false;
    let body: unknown;
    try {
      body = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
    } catch {
      return false;
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
    const message = body as Record<string, unknown>;
    const { device, namespace, connector } = parsed;
    if (parsed.type === 'acks') {
      for (const listener of this.#ackListeners) {
        try {
          listener({ device, namespace, connector, body: message });
        } catch {
          // A waiting command that failed is its own business; the table goes on.
        }
      }
      return true;
    }
    const receivedAt = this.#now().toISOString();
    const connectorKey = namespace + SEP + connector;
    let devices = this.#connectors.get(connectorKey);
    if (!devices) {
      devices = new Map();
      this.#connectors.set(connectorKey, devices);
    }
    const before = devices.get(device);
    if (parsed.type === 'status') {
      if (typeof message.connected !== 'boolean') return false;
      const status: ConnectorStatusMessage = {
        connected: message.connected,
        ...(typeof message.server === 'string' ? { server: message.server } : {}),
        ...(typeof message.error === 'string' ? { error: message.error } : {}),
        ...(typeof message.at === 'string' ? { at: message.at } : {}),
      };
      devices.set(device, {
        ...(before ?? { device, namespace, connector }),
        status,
        statusReceivedAt: receivedAt,
      });
      this.#connectorChanged(namespace, connector);
      return true;
    }
    if (!('value' in message)) return false;
    const key = device + SEP + connectorKey + SEP + parsed.feature;
    if (!this.#values.has(key)) {
      const count = this.#featureCount.get(device) ?? 0;
      if (count >= this.#maxFeatures) {
        this.#refused++;
        return false;
      }
      this.#featureCount.set(device, count + 1);
    }
    const value: TelemetryValue = {
      device,
      namespace,
      connector,
      feature: parsed.feature,
      value: message.value,
      ...(typeof message.sourceTimestamp === 'string' ? { sourceTimestamp: message.sourceTimestamp } : {}),
      receivedAt,
      ...(typeof message.seq === 'number' ? { seq: message.seq } : {}),
    };
    this.#values.set(key, value);
    devices.set(device, { ...(before ?? { device, namespace, connector }), lastValueAt: receivedAt });
    if (before?.lastValueAt === undefined) this.#connectorChanged(namespace, connector);
    for (const listener of this.#valueListeners) {
      try {
        listener(value);
      } catch {
        // A watcher's failure (its connection gone) is its own; the table goes on.
      }
    }
    return true;
  }

  /** The latest values matching `filter`, sorted by namespace, connector, device and feature. */
  values(filter: TelemetryFilter = {}): TelemetryValue[] {
    const found: TelemetryValue[] = [];
    for (const value of this.#values.values()) if (matches(value, filter)) found.push(value);
    return found.sort(
      (a, b) =>
        compare(a.namespace, b.namespace) ||
        compare(a.connector, b.connector) ||
        compare(a.device, b.device) ||
        compare(a.feature, b.feature),
    );
  }

  connectorDevices(namespace: string, name: string): ConnectorDeviceState[] {
    const devices = this.#connectors.get(namespace + SEP + name);
    if (!devices) return [];
    return [...devices.values()].sort((a, b) => compare(a.device, b.device));
  }

  onConnectorChange(listener: (namespace: string, name: string) => void): () => void {
    this.#connectorListeners.add(listener);
    return () => this.#connectorListeners.delete(listener);
  }

  /** Calls `listener` with every value accepted from now on; returns the unsubscribe function. */
  onValue(listener: (value: TelemetryValue) => void): () => void {
    this.#valueListeners.add(listener);
    return () => this.#valueListeners.delete(listener);
  }

  /** Calls `listener` with every ack message; returns the unsubscribe function. */
  onAck(listener: (ack: AckMessage) => void): () => void {
    this.#ackListeners.add(listener);
    return () => this.#ackListeners.delete(listener);
  }

  /** Values refused because their device already had the most features allowed. */
  get refusedValues(): number {
    return this.#refused;
  }

  #connectorChanged(namespace: string, name: string): void {
    for (const listener of this.#connectorListeners) {
      try {
        listener(namespace, name);
      } catch {
        // A listener's failure is its own; the table goes on.
      }
    }
  }
}

/** True when `value` matches every field of `filter`. */
export function matches(value: TelemetryValue, filter: TelemetryFilter): boolean {
  return (
    (filter.namespace === undefined || value.namespace === filter.namespace) &&
    (filter.connector === undefined || value.connector === filter.connector) &&
    (filter.device === undefined || value.device === filter.device)
  );
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
