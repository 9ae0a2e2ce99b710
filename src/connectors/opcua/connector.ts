import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import type { DataValue } from 'node-opcua';
import type { Logger } from 'pino';
import type { ResolvedConnectorConfig } from '../../api/index.ts';
import { OpcUaLink } from './opcua-link.ts';
import { variantToJson } from './values.ts';

/** How the connector runs. */
export interface ConnectorOptions {
  readonly config: ResolvedConnectorConfig;
  /** The local MQTT endpoint, e.g. `mqtt://127.0.0.1:41883` (the agent's `OUTPOST_MQTT_URL`). */
  readonly mqttUrl: string;
  /** The OPC UA client's certificate store (created when missing; keeps the trusted server certificate). */
  readonly pkiDir: string;
  readonly log: Logger;
  /** Aborting it stops the connector (status published, connections closed). */
  readonly signal: AbortSignal;
}

/** Values kept while the broker is unreachable; older values past this are dropped (and counted). */
const MAX_PENDING = 50_000;

/** The MQTT topics of one connector (see docs/architecture.md, "The OPC UA programs"). */
function connectorTopics(namespace: string, name: string) {
  return {
    telemetry: (feature: string) => `telemetry/${namespace}/${name}/${feature}`,
    status: `status/${namespace}/${name}`,
    commandsPrefix: `commands/${namespace}/${name}/`,
    acks: `acks/${namespace}/${name}`,
  };
}

/**
 * Runs the connector until `signal` aborts: OPC UA value changes become
 * `telemetry/<ns>/<name>/<feature>` messages `{value, sourceTimestamp, seq}`
 * (QoS 1, `seq` increasing over the run), the connection state a retained
 * `status/<ns>/<name>`, and each `commands/<ns>/<name>/<feature>` message
 * `{id, value}` an OPC UA write acknowledged on `acks/<ns>/<name>`. Both sides
 * reconnect by themselves.
 */
export async function runConnector(options: ConnectorOptions): Promise<void> {
  const { config, log, signal } = options;
  const topics = connectorTopics(config.connector.namespace, config.connector.name);
  const statusPayload = (connected: boolean, error?: string) =>
    JSON.stringify({
      connected,
      server: config.server,
      ...(error ? { error } : {}),
      at: new Date().toISOString(),
    });

  const broker = mqtt.connect(options.mqttUrl, {
    protocolVersion: 4,
    clientId: `opcua-${config.connector.namespace}-${config.connector.name}-${randomBytes(4).toString('hex')}`,
    clean: true,
    reconnectPeriod: 1000,
    connectTimeout: 10_000,
    // Told to subscribers when the connector dies without saying goodbye.
    will: {
      topic: topics.status,
      payload: Buffer.from(statusPayload(false, 'connector stopped unexpectedly')),
      qos: 1,
      retain: true,
    },
  });
  let status = { connected: false, error: 'connecting' as string | undefined };
  const publishStatus = () =>
    broker.publish(
      topics.status,
      statusPayload(status.connected, status.error),
      { qos: 1, retain: true },
      (error) => {
        if (error) log.debug({ err: error }, 'status not published');
      },
    );
  broker.on('connect', () => {
    log.info({ url: options.mqttUrl }, 'mqtt connected');
    broker.subscribe(`${topics.commandsPrefix}+`, { qos: 1 }, (error) => {
      if (error) log.warn({ err: error }, 'cannot subscribe to commands');
    });
    publishStatus();
  });
  broker.on('offline', () => log.warn({ url: options.mqttUrl }, 'mqtt offline, reconnecting'));
  broker.on('error', (error) => log.warn({ err: error }, 'mqtt error'));

  let seq = 0;
  let pending = 0;
  let dropped = 0;
  const onValue = (feature: string, dataValue: DataValue) => {
    if (pending >= MAX_PENDING) {
      if (dropped++ % 10_000 === 0) log.warn({ dropped }, 'mqtt backlog full: dropping values');
      return;
    }
    const at = dataValue.sourceTimestamp ?? dataValue.serverTimestamp ?? new Date();
    const payload = JSON.stringify({
      value: variantToJson(dataValue.value),
      sourceTimestamp: at.toISOString(),
      seq: ++seq,
      ...(dataValue.statusCode.isGood() ? {} : { statusCode: dataValue.statusCode.name }),
    });
    pending++;
    broker.publish(topics.telemetry(feature), payload, { qos: 1 }, () => {
      pending--;
    });
  };

  const link = new OpcUaLink(
    config,
    options.pkiDir,
    {
      onValue,
      onState(connected, error) {
        if (status.connected === connected && status.error === error) return;
        status = { connected, error };
        log.info({ connected, error }, connected ? 'opc ua connected' : 'opc ua disconnected');
        publishStatus();
      },
    },
    log,
  );

  broker.on('message', (topic, message) => {
    if (!topic.startsWith(topics.commandsPrefix)) return;
    const feature = topic.slice(topics.commandsPrefix.length);
    void handleCommand(feature, message).catch((error) =>
      log.warn({ err: error, feature }, 'command failed'),
    );
  });

  async function handleCommand(feature: string, message: Buffer): Promise<void> {
    let command: { id?: unknown; value?: unknown };
    try {
      command = JSON.parse(message.toString('utf8')) as typeof command;
      if (command === null || typeof command !== 'object') throw new Error('not an object');
    } catch {
      ack({
        id: null,
        ok: false,
        statusCode: 'BadDecodingError',
        error: 'a command is JSON {"id", "value"}',
      });
      return;
    }
    const id = typeof command.id === 'string' ? command.id : null;
    if (!('value' in command)) {
      ack({ id, ok: false, statusCode: 'BadDecodingError', error: 'the command has no value' });
      return;
    }
    let result: Awaited<ReturnType<OpcUaLink['write']>>;
    try {
      result = await link.write(feature, command.value);
    } catch (error) {
      ack({ id, ok: false, statusCode: 'BadCommunicationError', error: (error as Error).message });
      return;
    }
    const ok = result.statusCode.isGood();
    log.info({ id, feature, statusCode: result.statusCode.name }, 'command written');
    ack({
      id,
      ok,
      statusCode: result.statusCode.name,
      ...(result.error && !ok ? { error: result.error } : {}),
    });
  }

  function ack(body: Record<string, unknown>): void {
    broker.publish(topics.acks, JSON.stringify(body), { qos: 1 });
  }

  const stopped = new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
  // Connecting retries forever; a stop while it does must not wait for it.
  const starting = link.start().catch((error: Error) => {
    if (signal.aborted) return;
    log.error({ err: error }, 'opc ua setup failed');
    status = { connected: false, error: error.message };
    publishStatus();
    throw error;
  });
  const failed = await Promise.race([
    stopped.then(() => false),
    starting.then(() => stopped.then(() => false)),
  ]).catch(() => true);

  log.info('stopping');
  await link.close();
  status = { connected: false, error: failed ? status.error : 'connector stopped' };
  await new Promise<void>((resolve) => {
    broker.publish(
      topics.status,
      statusPayload(status.connected, status.error),
      { qos: 1, retain: true },
      () => resolve(),
    );
    setTimeout(resolve, 2000).unref();
  });
  await broker.endAsync().catch(() => undefined);
  if (failed)
    throw new Error('the OPC UA connection could not be set up', { cause: await starting.catch((e) => e) });
}
