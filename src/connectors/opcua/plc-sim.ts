import { join } from 'node:path';
import {
  DataType,
  MessageSecurityMode,
  nodesets,
  OPCUACertificateManager,
  OPCUAServer,
  SecurityPolicy,
  StatusCodes,
  type UAVariable,
  Variant,
} from 'node-opcua';
import type { Logger } from 'pino';

/** What the PLC simulator serves and how. */
export interface PlcSimOptions {
  /** The address to listen on. @default '127.0.0.1' */
  readonly host?: string;
  /** The TCP port; 0 picks a free one (see {@link PlcSimulator.endpointUrl}). @default 4840 */
  readonly port?: number;
  /** How often the values change, in milliseconds. @default 1000 */
  readonly intervalMs?: number;
  /** When set, only this user may open a session (no anonymous access). */
  readonly user?: { readonly username: string; readonly password: string };
  /** Where the server keeps its certificate and trust lists (created when missing). */
  readonly pkiDir: string;
  /**
   * Extra Double nodes `ns=2;s=Node0` .. `ns=2;s=Node<N-1>`, each holding the
   * tick count and changing on every tick (for benchmarks: a gap in the
   * counter is a lost value). @default 0
   */
  readonly extraNodes?: number;
  readonly log: Logger;
}

/** A running simulator. */
export interface PlcSimulator {
  /** `opc.tcp://HOST:PORT/UA/Outpost`, with the real port when 0 was asked. */
  readonly endpointUrl: string;
  readonly port: number;
  /** Stops serving (sessions are closed) and the value updates. */
  stop(): Promise<void>;
}

/** The path part of the simulator's endpoint URL. */
export const PLC_SIM_RESOURCE_PATH = '/UA/Outpost';

/**
 * Starts an OPC UA server that behaves like a small PLC: `ns=2;s=Temperature`
 * (°C) moves smoothly toward the writable `ns=2;s=TemperatureSetpoint` with a
 * little oscillation, `ns=2;s=Pressure` (bar) oscillates around the writable
 * `ns=2;s=PressureSetpoint`. Security None, Sign and SignAndEncrypt
 * (Basic256Sha256) are offered; client certificates are trusted on first use
 * (a test setting).
 */
export async function startPlcSimulator(options: PlcSimOptions): Promise<PlcSimulator> {
  const host = options.host ?? '127.0.0.1';
  const intervalMs = options.intervalMs ?? 1000;
  const user = options.user;
  const server = new OPCUAServer({
    host,
    hostname: host === '0.0.0.0' || host === '::' ? undefined : host,
    port: options.port ?? 4840,
    resourcePath: PLC_SIM_RESOURCE_PATH,
    nodeset_filename: [nodesets.standard],
    buildInfo: { productName: 'Outpost PLC simulator', manufacturerName: 'Outpost' },
    serverCertificateManager: new OPCUACertificateManager({
      rootFolder: join(options.pkiDir, 'server'),
      automaticallyAcceptUnknownCertificate: true,
    }),
    userCertificateManager: new OPCUACertificateManager({
      rootFolder: join(options.pkiDir, 'users'),
      automaticallyAcceptUnknownCertificate: true,
    }),
    securityModes: [MessageSecurityMode.None, MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt],
    securityPolicies: [SecurityPolicy.None, SecurityPolicy.Basic256Sha256],
    allowAnonymous: !user,
    ...(user
      ? {
          userManager: {
            isValidUser: (name: string, password: string) =>
              name === user.username && password === user.password,
          },
        }
      : {}),
    // A burst of benchmark values must not be dropped by the server's default limits.
    serverCapabilities: { maxMonitoredItemsQueueSize: 10_000 } as never,
  });
  await server.initialize();
  const addressSpace = server.engine.addressSpace!;
  // The server's own namespace is ns=1; the PLC's variables live in the next one, ns=2.
  const namespace = addressSpace.registerNamespace('urn:outpost:plc-sim');
  const plc = namespace.addObject({ organizedBy: addressSpace.rootFolder.objects, browseName: 'PLC' });
  const double = (name: string, value: number, writable = false): UAVariable =>
    namespace.addVariable({
      componentOf: plc,
      nodeId: `s=${name}`,
      browseName: name,
      dataType: 'Double',
      accessLevel: writable ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
      userAccessLevel: writable ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
      value: new Variant({ dataType: DataType.Double, value }),
    });
  const temperature = double('Temperature', 20);
  const pressure = double('Pressure', 1.013);
  const temperatureSetpoint = double('TemperatureSetpoint', 21.5, true);
  const pressureSetpoint = double('PressureSetpoint', 1.013, true);
  const extra = Array.from({ length: options.extraNodes ?? 0 }, (_, i) => double(`Node${i}`, 0));

  const started = Date.now();
  let tick = 0;
  let temp = 20;
  const setpointOf = (node: UAVariable): number => {
    const value = node.readValue().value.value as unknown;
    return typeof value === 'number' && Number.isFinite(value) ? value : 0;
  };
  const update = () => {
    tick++;
    const now = new Date();
    const seconds = (now.getTime() - started) / 1000;
    // First-order lag toward the set point (time constant 20 s), plus a slow ripple.
    const step = Math.min(1, intervalMs / 20_000);
    temp += (setpointOf(temperatureSetpoint) - temp) * step;
    const ripple = 0.15 * Math.sin(seconds / 7) + 0.03 * Math.sin(seconds * 1.3);
    set(temperature, round(temp + ripple, 3), now);
    set(pressure, round(setpointOf(pressureSetpoint) + 0.02 * Math.sin(seconds / 5), 4), now);
    for (const node of extra) set(node, tick, now);
  };
  const timer = setInterval(update, intervalMs);
  update();

  try {
    await server.start();
  } catch (error) {
    clearInterval(timer);
    throw new Error(`plc-sim: cannot listen on ${host}:${options.port ?? 4840}`, { cause: error });
  }
  const port = server.endpoints[0]?.port ?? options.port ?? 4840;
  const endpointUrl = `opc.tcp://${host.includes(':') ? `[${host}]` : host}:${port}${PLC_SIM_RESOURCE_PATH}`;
  options.log.info(
    { endpointUrl, intervalMs, extraNodes: extra.length, user: user?.username },
    'plc-sim started',
  );
  let stopped: Promise<void> | undefined;
  return {
    endpointUrl,
    port,
    stop() {
      stopped ??= (async () => {
        clearInterval(timer);
        await server.shutdown(0);
      })();
      return stopped;
    },
  };
}

function set(node: UAVariable, value: number, at: Date): void {
  node.setValueFromSource(new Variant({ dataType: DataType.Double, value }), StatusCodes.Good, at);
}

function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
