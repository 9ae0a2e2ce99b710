import { isIP } from 'node:net';
import type { Device } from './device.ts';

/** The port of a gateway's proxy when `spec.gateway.proxyPort` names none (the schema's default). */
export const DEFAULT_PROXY_PORT = 3128;
/** The port of a gateway's broker when `spec.gateway.brokerPort` names none (the schema's default). */
export const DEFAULT_BROKER_PORT = 1883;

/** A gateway's ports for the level below (from its Device's spec), defaults applied. */
export function gatewayPorts(spec: Device['spec'] | undefined): { proxyPort: number; brokerPort: number } {
  const gateway = spec?.gateway;
  return {
    proxyPort: gateway?.proxyPort ?? DEFAULT_PROXY_PORT,
    brokerPort: gateway?.brokerPort ?? DEFAULT_BROKER_PORT,
  };
}

/** The URL of a gateway's proxy as a child's agent uses it. */
export function gatewayProxyUrl(address: string, port: number): string {
  return `http://${urlHost(address)}:${port}`;
}

/** The URL of a gateway's broker as a child's agent uses it (TLS with its device certificate). */
export function gatewayBrokerUrl(address: string, port: number): string {
  return `mqtts://${urlHost(address)}:${port}`;
}

/** An address as a URL's host: an IPv6 address in brackets. */
function urlHost(address: string): string {
  return isIP(address) === 6 ? `[${address}]` : address;
}
