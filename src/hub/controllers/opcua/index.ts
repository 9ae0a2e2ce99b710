/**
 * The OPC UA feature: the OpcUaConnector renderer, which makes each connector
 * a Workload and a Placement it owns and summarises them back into its
 * status. `controller.ts` adds it to a manager (what queues a connector);
 * `reconciler.ts` is the reconcile, in steps (read, render, compare and write
 * each owned object through `owned.ts`, status); `connections.ts` reads the
 * hub's telemetry for it. Its pure parts: how a connector is rendered
 * (`render.ts`, and the connector's `config.yaml`), where its credentials
 * come from (`credentials.ts`), and how its status is made from the
 * Placement summary and the connections (`status.ts`).
 */
export { addOpcUaRenderer, type OpcUaRenderer, type OpcUaRendererOptions } from './controller.ts';
export { type CredentialsResult, credentialsSecretKey, resolveCredentials } from './credentials.ts';
export { OPCUA_FIELD_MANAGER } from './owned.ts';
export { createOpcUaReconciler, type OpcUaInformers, type OpcUaReconcilerOptions } from './reconciler.ts';
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
