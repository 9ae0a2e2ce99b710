import { join } from 'node:path';
import type { Logger } from 'pino';
import { readFileIfExists, writeFileAtomic } from '../../util/index.ts';
import type { DeviceCredentials } from '../enrollment/index.ts';
import { type LocalBroker, startLocalBroker } from './local-broker.ts';
import { TelemetryOutbox } from './telemetry-outbox.ts';
import { Uplink } from './uplink.ts';

/** Options of {@link startAgentTelemetry}. */
export interface AgentTelemetryOptions {
  readonly dataDir: string;
  /** The device's name: the hub topics' prefix is `devices/<device>/`. */
  readonly device: string;
  /** The current credentials (renewed ones included). */
  readonly credentials: () => DeviceCredentials;
  readonly log?: Logger;
  /** Outbox bounds. @default 64 MiB and 1,000,000 messages */
  readonly outboxMaxBytes?: number;
  readonly outboxMaxMessages?: number;
  /** Messages in flight to the hub. @default 1000 */
  readonly window?: number;
  /** Where HTTPS_PROXY / NO_PROXY are read. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
}

/** The agent's telemetry, started (the local endpoint listens; `run` connects to the hub once there is a reason to). */
export interface AgentTelemetry {
  /** `mqtt://127.0.0.1:PORT`. */
  readonly url: string;
  /** What every workload container gets in its environment: `OUTPOST_MQTT_URL`, `OUTPOST_DEVICE`. */
  readonly env: Readonly<Record<string, string>>;
  readonly outbox: TelemetryOutbox;
  /** Reconnects to the hub with the renewed certificate. */
  credentialsRenewed(): void;
  /**
   * Follows a Device the hub returned: with `status.nested.parentBroker`, telemetry goes to that
   * broker (the parent gateway's), without it to the hub. Remembered in DATA_DIR/uplink.json, so
   * that an agent restarted while its level is cut off from the hub still sends to its parent.
   */
  updateFromDevice(device: Record<string, unknown>): Promise<void>;
  /** Forwards to and from the hub until `signal` aborts (connecting once the outbox holds a message or a local client subscribed to commands). */
  run(signal: AbortSignal): Promise<void>;
  /** Closes the local endpoint and the outbox (after `run` ended). */
  close(): Promise<void>;
}

/**
 * Starts the local MQTT endpoint with its outbox (DATA_DIR/mqtt.json,
 * DATA_DIR/telemetry-outbox); `run` then forwards local `telemetry/`,
 * `status/` and `acks/` to the hub and the hub's commands to local
 * `commands/`. Both sides start small and load their MQTT code when first
 * used: the broker on the first local connection, the hub connection once
 * the outbox holds a message or a local client subscribed to commands.
 */
export async function startAgentTelemetry(options: AgentTelemetryOptions): Promise<AgentTelemetry> {
  const log = options.log;
  const outbox = await TelemetryOutbox.open({
    dir: join(options.dataDir, 'telemetry-outbox'),
    ...(options.outboxMaxBytes !== undefined ? { maxBytes: options.outboxMaxBytes } : {}),
    ...(options.outboxMaxMessages !== undefined ? { maxMessages: options.outboxMaxMessages } : {}),
    ...(log ? { log } : {}),
  });
  let uplink: Uplink | undefined;
  let broker: LocalBroker;
  try {
    broker = await startLocalBroker({
      dataDir: options.dataDir,
      forward: (topic, payload, retain) => outbox.append(topic, payload, retain),
      onCommandSubscriber: () => uplink?.connect(),
      ...(log ? { log } : {}),
    });
  } catch (error) {
    await outbox.close();
    throw error;
  }
  uplink = new Uplink({
    device: options.device,
    credentials: options.credentials,
    outbox,
    deliver: (topic, payload) => broker.publish(topic, payload),
    ...(log ? { log } : {}),
    ...(options.window !== undefined ? { window: options.window } : {}),
    ...(options.env ? { env: options.env } : {}),
  });
  const uplinkFile = join(options.dataDir, 'uplink.json');
  const remembered = await readFileIfExists(uplinkFile).then(
    (text) => parentBrokerOf(text),
    () => undefined,
  );
  if (remembered) uplink.setBroker(remembered);
  log?.info({ url: broker.url, queued: outbox.size }, 'local MQTT endpoint listening');
  return {
    url: broker.url,
    env: { OUTPOST_MQTT_URL: broker.url, OUTPOST_DEVICE: options.device },
    outbox,
    credentialsRenewed: () => uplink.credentialsRenewed(),
    async updateFromDevice(device) {
      const status = device.status as { nested?: { parentBroker?: unknown } } | undefined;
      const next = typeof status?.nested?.parentBroker === 'string' ? status.nested.parentBroker : undefined;
      if (next === uplink.broker) return;
      uplink.setBroker(next);
      await writeFileAtomic(uplinkFile, `${JSON.stringify(next ? { parentBroker: next } : {})}\n`, 0o600);
    },
    run: (signal) => uplink.run(signal),
    async close() {
      await broker.close();
      await outbox.close();
    },
  };
}

/** The parent broker remembered in uplink.json (undefined for none, or an unreadable file). */
function parentBrokerOf(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  try {
    const value = (JSON.parse(text) as { parentBroker?: unknown }).parentBroker;
    return typeof value === 'string' && value.startsWith('mqtts://') ? value : undefined;
  } catch {
    return undefined;
  }
}
