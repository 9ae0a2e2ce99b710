/**
 * Device logs through the hub (`outpost logs`): a person's request waits in
 * a per-process rendezvous until the device's agent, long-polling on its own
 * mTLS connection, takes it and uploads the output; the hub pipes it to the
 * person. The hub never opens a connection to a device.
 */
export { type LogAnswer, LogRendezvous, type LogRendezvousOptions } from './rendezvous.ts';
export { type DeviceLogsOptions, registerDeviceLogs } from './routes.ts';
