/**
 * Assembles the hub's telemetry: the embedded broker, the bridge to an
 * external broker when one is configured, the latest-value table fed from
 * whichever broker the hub follows, and the command dispatcher publishing to
 * it.
 */
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import type { Authenticator } from '../auth/index.ts';
import { startBridge } from './bridge.ts';
import { startEmbeddedBroker } from './broker.ts';
import { embeddedBus, type MessageBus } from './bus.ts';
import { CommandDispatcher } from './commands.ts';
import { LatestValues } from './latest-values.ts';
import type { WorkloadPlacements } from './placed-workloads.ts';
import { UPWARD_FILTERS } from './topics.ts';

/** Options of {@link startTelemetry}. */
export interface TelemetryOptions {
  /** The API's authenticator: devices connect with their client certificates. */
  readonly authenticate: Authenticator;
  /** Which Workloads are placed on which device: what devices may send up for, where commands go. */
  readonly placements: WorkloadPlacements;
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
    logger,
  });
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
    attach: (server) => broker.attach(server),
    async close() {
      await bridge?.close();
      await broker.close();
    },
  };
}
