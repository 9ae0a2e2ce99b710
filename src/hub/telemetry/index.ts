/**
 * The hub's telemetry and commands: the embedded MQTT broker devices reach
 * over WebSocket at `/mqtt` on the hub's HTTPS port (authenticated by their
 * client certificates, each confined to its own topics), the optional bridge
 * to an external broker (`--mqtt URL`), the latest-value table, commands with
 * acknowledgements, and their HTTP endpoints. A device sends up only for
 * the Workloads placed on it (`PlacedWorkloads`, from the Mailboxes), and a
 * connector's commands go only to the devices it is placed on.
 *
 * Other hub code reads the table through {@link ConnectorTelemetry}
 * (`TelemetryHub.latest`), e.g. the OpcUaConnector renderer for its status.
 */

export {
  clientIdPrefix,
  type MqttPrincipal,
  publisherFor,
  receiveAllowed,
  subscribeAllowed,
} from './access.ts';
export { type Bridge, type BridgeOptions, BrokerUnavailableError, startBridge } from './bridge.ts';
export { type EmbeddedBroker, type EmbeddedBrokerOptions, MQTT_PATH, startEmbeddedBroker } from './broker.ts';
export { embeddedBus, type MessageBus, type MessageHandler, topicMatches } from './bus.ts';
export {
  type Command,
  type CommandAck,
  CommandDispatcher,
  type CommandDispatcherOptions,
  CommandTimeoutError,
} from './commands.ts';
export {
  DeviceParentIndex,
  type DeviceParentIndexStartOptions,
  type DeviceParents,
  fixedParents,
} from './device-parents.ts';
export {
  type AckMessage,
  type ConnectorDeviceState,
  type ConnectorStatusMessage,
  type ConnectorTelemetry,
  LatestValues,
  type LatestValuesOptions,
  type TelemetryFilter,
  type TelemetryValue,
} from './latest-values.ts';
export {
  fixedPlacements,
  PlacedWorkloads,
  type PlacedWorkloadsStartOptions,
  type WorkloadPlacements,
} from './placed-workloads.ts';
export { registerTelemetry, type TelemetryRoutesOptions } from './routes.ts';
export {
  type MqttTlsSettings,
  startTelemetry,
  type TelemetryHub,
  type TelemetryOptions,
} from './telemetry.ts';
export { type MqttTlsListener, type MqttTlsListenerOptions, startMqttTlsListener } from './tls-listener.ts';
export {
  COMMAND_FILTER,
  commandTopic,
  devicePublishAllowed,
  deviceReceiveAllowed,
  deviceSubscribeAllowed,
  parseUpwardTopic,
  UPWARD_FILTERS,
  type UpwardTopic,
} from './topics.ts';
