/**
 * The OPC UA feature: the OpcUaConnector renderer, which makes each connector
 * a Workload and a Placement it owns and summarises them back into its
 * status (`controller.ts` adds it to a manager), with its pure parts: how a
 * connector is rendered (`render.ts`, and the connector's `config.yaml`),
 * where its credentials come from (`credentials.ts`), and how its status is
 * made from the Placement summary and the hub's telemetry (`status.ts`).
 */
export {
  addOpcUaRenderer,
  createOpcUaReconciler,
  OPCUA_FIELD_MANAGER,
  type OpcUaRenderer,
  type OpcUaRendererOptions,
} from './controller.ts';
export { type CredentialsResult, credentialsSecretKey, resolveCredentials } from './credentials.ts';
export {
  CONFIG_DIR,
  CONFIG_KEY,
  CONNECTOR_IMAGE,
  CONNECTOR_LABEL,
  type Credentials,
  connectorConfig,
  controlledBy,
  ownerReferenceTo,
  type Rendered,
  renderConnector,
  updateFor,
} from './render.ts';
export { type Connection, connectorStatus, MAX_CONNECTIONS, type StatusInput, sameStatus } from './status.ts';
