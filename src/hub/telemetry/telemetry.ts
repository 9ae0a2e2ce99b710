/**
 * Assembles the hub's telemetry: the embedded broker, the bridge to an
 * external broker when one is configured, the latest-value table fed from
 * whichever broker the hub follows, and the command dispatcher publishing to
 * it.
 */
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import type { Authenticator, Connection } from '../auth/index.ts';
import { startBridge } from './bridge.ts';
import { startEmbeddedBroker } from './broker.ts';
import { embeddedBus, type MessageBus } from './bus.ts';
import { CommandDispatcher } from './commands.ts';
import type { DeviceParents } from './device-parents.ts';
import { LatestValues } from './latest-values.ts';
import type { WorkloadPlacements } from './placed-workloads.ts';
import { type MqttTlsListener, startMqttTlsListener } from './tls-listener.ts';
import { UPWARD_FILTERS } from './topics.ts';

/** The MQTT-over-TLS listener's settings (tls-listener.ts). */
export interface MqttTlsSettings {
  readonly host: string;
  /** 0: a free port. */
  readonly port: number;
  /** The hub's serving key and certificate, and its CA (PEM). */
  readonly key: string;
  readonly cert: string;
  readonly ca: string;
  /** Registers a connection under a Device name, to be destroyed with the Device (the Device index). */
  readonly track: (device: string, connection: Connection) => void;
}

/** Options of {@link startTelemetry}. */
export interface TelemetryOptions {
  /** The API's authenticator: devices connect with their client certificates. */
  readonly authenticate: Authenticator;
  /** Which Workloads are placed on which device: what devices may send up for, where commands go. */
  readonly placements: WorkloadPlacements;
  /** Which device is below which gateway: what a gateway's bridge may carry over the TLS listener. */
  readonly parents: DeviceParents;
  /** Also serve the broker as MQTT over TLS (gateways' bridges). @default not served */
  readonly tls?: MqttTlsSettings;
  /** An external broker to bridge to (`mqtt://HOST:PORT`). @default none: the embedded broker alone */
  readonly mqttUrl?: string;
  readonly logger?: Logger;
  /** How long a command waits for its ack. @default 10_000 */
  readonly commandTimeoutMs?: number;
}

/** The hub's telemetry, running. */
export interface TelemetryHub {
  /** The latest-value table (a {@link ConnectorTelemetry} for the OpcUaConnector renderer). */
  readonly latest: LatestValues;
  readonly commands: CommandDispatcher;
  /** Which Workloads are placed on which device (the connectors' command targets). */
  readonly placements: WorkloadPlacements;
  /** Messages devices sent for workloads not placed on them, dropped so far. */
  readonly dropped: number;
  /** Upward messages (telemetry, status, acks) taken into the latest-value table so far. */
  readonly received: number;
  /** `mqtts://HOST:PORT` of the MQTT-over-TLS listener, when there is one: where top-level gateways bridge. */
  readonly tlsUrl: string | undefined;
  /** Serves the devices' MQTT-over-WebSocket endpoint (`/mqtt`) on the hub's HTTPS server. */
  attach(server: Server): void;
  /** Closes every MQTT connection, the bridge and the broker. */
  close(): Promise<void>;
}

/** Starts the broker (and the bridge); the table follows the external broker when there is one. */
export async function startTelemetry(options: TelemetryOptions): Promise<TelemetryHub> {
  const logger = options.logger?.child({ component: 'telemetry' });
  const broker = await startEmbeddedBroker({
    authenticate: options.authenticate,
    placements: options.placements,
    parents: options.parents,
    logger,
  });
  let listener: MqttTlsListener | undefined;
  if (options.tls) {
    try {
      listener = await startMqttTlsListener({
        ...options.tls,
        broker,
        authenticate: options.authenticate,
        parents: options.parents,
        logger,
      });
    } catch (error) {
      await broker.close();
      throw error;
    }
  }
  const bridge = options.mqttUrl
    ? await startBridge({ aedes: broker.aedes, url: options.mqttUrl, logger })
    : undefined;
  const bus: MessageBus = bridge?.bus ?? embeddedBus(broker.aedes);
  const latest = new LatestValues();
  let received = 0;
  for (const filter of UPWARD_FILTERS)
    await bus.subscribe(filter, (topic, payload) => {
      if (latest.accept(topic, payload)) received++;
    });
  const commands = new CommandDispatcher(bus, latest, { timeoutMs: options.commandTimeoutMs });
  return {
    latest,
    commands,
    placements: options.placements,
    get dropped() {
      return broker.dropped;
    },
    get received() {
      return received;
    },
    tlsUrl: listener?.url,
    attach: (server) => broker.attach(server),
    async close() {
      await listener?.close();
      await bridge?.close();
      await broker.close();
    },
  };
}
