/**
 * The pure parts of the OpcUaConnector renderer (`../render-opcua.ts`): how a
 * connector is rendered into its Workload and Placement (and the connector's
 * `config.yaml` in them), where its credentials come from, and how its status
 * is made from the Placement summary and the hub's telemetry. No I/O here.
 */
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
