import {
  AttributeIds,
  ClientMonitoredItemGroup,
  type ClientSession,
  type ClientSubscription,
  type DataType,
  type DataValue,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
  type StatusCode,
  StatusCodes,
  TimestampsToReturn,
  UserTokenType,
  Variant,
  VariantArrayType,
} from 'node-opcua';
import type { Logger } from 'pino';
import type { ResolvedConnectorConfig } from '../../api/index.ts';
import { jsonToOpcUa } from './values.ts';

/** What the link tells its owner. */
export interface OpcUaLinkEvents {
  /** A value of `feature` changed. */
  onValue(feature: string, dataValue: DataValue): void;
  /** The link is up (subscriptions in place) or down (with why). */
  onState(connected: boolean, error?: string): void;
}

/** The outcome of a write. */
export interface WriteResult {
  readonly statusCode: StatusCode;
  readonly error?: string;
}

/**
 * One OPC UA client, session and subscription for a connector. node-opcua
 * reconnects the secure channel by itself and, when the server restarted (the
 * session is gone), creates a new session and re-creates the subscription and
 * its monitored items; this link reports those transitions through
 * {@link OpcUaLinkEvents.onState}.
 */
export class OpcUaLink {
  private readonly client: OPCUAClient;
  private session: ClientSession | undefined;
  private subscription: ClientSubscription | undefined;
  private readonly features: string[];
  private readonly dataTypes = new Map<string, DataType>();
  private connected = false;
  private closed = false;

  constructor(
    private readonly config: ResolvedConnectorConfig,
    pkiDir: string,
    private readonly events: OpcUaLinkEvents,
    private readonly log: Logger,
  ) {
    this.features = Object.keys(config.subscriptions);
    this.client = OPCUAClient.create({
      applicationName: `outpost-opcua-connector-${config.connector.namespace}-${config.connector.name}`,
      securityMode: MessageSecurityMode[config.securityMode],
      securityPolicy: SecurityPolicy[config.securityPolicy],
      endpointMustExist: false,
      keepSessionAlive: true,
      requestedSessionTimeout: 60_000,
      // Retry forever: the server may be down for long (a PLC being serviced).
      connectionStrategy: {
        initialDelay: 250,
        maxDelay: 3000,
        maxRetry: 1_000_000_000,
        randomisationFactor: 0.1,
      },
      // Trust on first use: the server's certificate is accepted and kept in pkiDir
      // (a test and edge setting; a production PLC's certificate should be pinned).
      clientCertificateManager: new OPCUACertificateManager({
        rootFolder: pkiDir,
        automaticallyAcceptUnknownCertificate: true,
      }),
    });
    this.client.on('backoff', (count: number, delay: number) => {
      this.log.debug({ count, delay }, 'opc ua connection attempt failed, retrying');
      this.setState(false, `cannot connect to ${config.server}`);
    });
    this.client.on('connection_lost', () => {
      this.log.warn('opc ua connection lost');
      this.dataTypes.clear();
      this.setState(false, 'connection to the OPC UA server lost');
    });
    this.client.on('after_reconnection', (error?: Error | null) => {
      if (error) this.log.warn({ err: error }, 'opc ua reconnection failed');
      else this.log.info('opc ua reconnected');
    });
  }

  /** Connects, opens a session and subscribes to every feature; retries until it succeeds or is closed. */
  async start(): Promise<void> {
    await this.client.connect(this.config.server);
    if (this.closed) return;
    const credentials = this.config.credentials;
    this.session = await this.client.createSession(
      credentials
        ? { type: UserTokenType.UserName, userName: credentials.username, password: credentials.password }
        : { type: UserTokenType.Anonymous },
    );
    this.session.on('session_restored', () => this.log.info('opc ua session restored'));
    await this.subscribe(this.session);
  }

  private async subscribe(session: ClientSession): Promise<void> {
    const { samplingIntervalMs, publishingIntervalMs } = this.config;
    const subscription = await session.createSubscription2({
      requestedPublishingInterval: publishingIntervalMs,
      requestedLifetimeCount: 60,
      requestedMaxKeepAliveCount: 10,
      maxNotificationsPerPublish: 0,
      publishingEnabled: true,
      priority: 10,
    });
    this.subscription = subscription;
    // Enough queue for every change between two publishes: values are not coalesced.
    const queueSize = Math.min(
      10_000,
      Math.max(10, Math.ceil(publishingIntervalMs / Math.max(samplingIntervalMs, 1)) + 10),
    );
    const group = ClientMonitoredItemGroup.create(
      subscription,
      this.features.map((feature) => ({
        nodeId: this.config.subscriptions[feature]!,
        attributeId: AttributeIds.Value,
      })),
      { samplingInterval: samplingIntervalMs, discardOldest: true, queueSize },
      TimestampsToReturn.Both,
    );
    group.on('changed', (_item, dataValue, index) => {
      const feature = this.features[index];
      if (feature === undefined) return;
      if (!this.connected) this.setState(true);
      this.events.onValue(feature, dataValue);
    });
    subscription.on('keepalive', () => {
      if (!this.connected) this.setState(true);
    });
    await new Promise<void>((resolve, reject) => {
      group.once('initialized', () => resolve());
      group.once('err', (message) => reject(new Error(`monitor the features: ${message}`)));
    });
    const refused = group.monitoredItems
      .map((item, index) => ({ feature: this.features[index], status: item.statusCode }))
      .filter(({ status }) => status?.isNotGood());
    this.setState(
      true,
      refused.length > 0 ? refused.map((r) => `${r.feature}: ${r.status.name}`).join(', ') : undefined,
    );
  }

  /** Writes `value` (JSON) to the node of `feature`, converted to the node's DataType. */
  async write(feature: string, value: unknown): Promise<WriteResult> {
    const nodeId = this.config.subscriptions[feature];
    if (nodeId === undefined)
      return {
        statusCode: StatusCodes.BadNodeIdUnknown,
        error: `unknown feature ${JSON.stringify(feature)} (known: ${this.features.join(', ')})`,
      };
    const session = this.session;
    if (!session || !this.connected)
      return { statusCode: StatusCodes.BadNotConnected, error: 'not connected to the OPC UA server' };
    let dataType = this.dataTypes.get(nodeId);
    if (dataType === undefined) {
      try {
        dataType = await session.getBuiltInDataType(nodeId as never);
      } catch (error) {
        return {
          statusCode: StatusCodes.BadNodeIdUnknown,
          error: `cannot read the DataType of ${nodeId}: ${(error as Error).message}`,
        };
      }
      this.dataTypes.set(nodeId, dataType);
    }
    let converted: unknown;
    try {
      converted = jsonToOpcUa(dataType, value);
    } catch (error) {
      return { statusCode: StatusCodes.BadTypeMismatch, error: (error as Error).message };
    }
    const statusCode = await session.write({
      nodeId,
      attributeId: AttributeIds.Value,
      value: {
        value: new Variant({
          dataType,
          arrayType: Array.isArray(converted) ? VariantArrayType.Array : VariantArrayType.Scalar,
          value: converted,
        }),
      },
    });
    return statusCode.isGood() ? { statusCode } : { statusCode, error: statusCode.description };
  }

  /** Ends the subscription, the session and the connection (bounded: the server may be gone). */
  async close(): Promise<void> {
    this.closed = true;
    const bounded = (work: Promise<unknown>) =>
      Promise.race([
        work.catch(() => undefined),
        new Promise((resolve) => setTimeout(resolve, 2000).unref()),
      ]);
    if (this.subscription) await bounded(this.subscription.terminate());
    if (this.session) await bounded(this.session.close());
    await bounded(this.client.disconnect());
  }

  private setState(connected: boolean, error?: string): void {
    this.connected = connected;
    this.events.onState(connected, error);
  }
}
