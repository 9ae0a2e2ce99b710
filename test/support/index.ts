/** Helpers for tests that start Outpost processes and drive them with real clients. */

export * from './agent-connect-proxy.ts';
export * from './agent-hub-stand-in.ts';
export * from './agent-mailbox.ts';
export * from './agent-process.ts';
export * from './agent-tcp-relay.ts';
export * from './agent-workloads.ts';
export * from './https-client.ts';
export * from './hub-process.ts';
export * from './podman-test-environment.ts';
export * from './postgres.ts';
export * from './process.ts';
export * from './wait.ts';
