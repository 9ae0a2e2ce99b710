/**
 * The OPC UA connector program (`outpost opcua-connector`), which bridges an
 * OPC UA server's values and writes to the local MQTT endpoint, and a PLC
 * simulator (`outpost plc-sim`) to run it against. Its config format
 * (`config.yaml`, rendered by the hub for an `OpcUaConnector`) is a contract
 * between hub and connector, so it lives in `src/api/opcua-connector-config.ts`.
 */
import type { ConnectorOptions } from './connector.ts';
import { prepareOpcUa } from './opcua-logs.ts';
import type { PlcSimOptions, PlcSimulator } from './plc-sim.ts';

export type { ConnectorOptions } from './connector.ts';
export type { PlcSimOptions, PlcSimulator } from './plc-sim.ts';

/**
 * Starts the PLC simulator (see `plc-sim.ts`). node-opcua is loaded on the
 * first call only, so importing this folder (the hub does, for the config
 * schema) costs nothing.
 */
export async function startPlcSimulator(options: PlcSimOptions): Promise<PlcSimulator> {
  await prepareOpcUa(options.log);
  return (await import('./plc-sim.ts')).startPlcSimulator(options);
}

/**
 * Runs the connector until `options.signal` aborts (see `connector.ts`).
 * node-opcua is loaded on the first call only.
 */
export async function runConnector(options: ConnectorOptions): Promise<void> {
  await prepareOpcUa(options.log);
  return (await import('./connector.ts')).runConnector(options);
}
