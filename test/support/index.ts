/**
 * Helpers for tests that start Outpost processes and drive them with real clients, one topic a
 * file: processes, waiting and measured samples (`process.ts`, `wait.ts`, `samples.ts`), the hub (`hub-process.ts`,
 * `https-client.ts`, `kubectl-hub.ts`, `manifests.ts`, `replica-set.ts`, `postgres.ts`), the agent
 * (`agent-*.ts`, `podman-test-environment.ts`, `podman-units.ts`), enrollment and devices (`enrollment.ts`), people
 * (`rbac-users.ts`), MQTT and telemetry (`mqtt-brokers.ts`, `mqtt-clients.ts`, `telemetry.ts`),
 * the dashboard's proxy and a real browser (`dashboard.ts`, `browser.ts`), OPC UA (`opcua.ts`), S3 (`s3rver.ts`), the network (`tcp-relays.ts`; nested levels in namespaces, `levels.ts`) and workloads that try to escape their
 * sandbox (`sandbox.ts`). The in-process harness has its own door,
 * `in-process/index.ts`, so that process tests do not load the hub.
 */

export * from './agent-connect-proxy.ts';
export * from './agent-hub-stand-in.ts';
export * from './agent-mailbox.ts';
export * from './agent-process.ts';
export * from './agent-workloads.ts';
export * from './browser.ts';
export * from './dashboard.ts';
export * from './demo-processes.ts';
export * from './enrollment.ts';
export * from './https-client.ts';
export * from './hub-certificates.ts';
export * from './hub-process.ts';
export * from './kubectl-hub.ts';
export * from './levels.ts';
export * from './manifests.ts';
export * from './mqtt-brokers.ts';
export * from './mqtt-clients.ts';
export * from './netns.ts';
export * from './opcua.ts';
export * from './podman-test-environment.ts';
export * from './podman-units.ts';
export * from './postgres.ts';
export * from './process.ts';
export * from './rbac-users.ts';
export * from './replica-set.ts';
export * from './s3rver.ts';
export * from './samples.ts';
export * from './sandbox.ts';
export * from './tcp-relays.ts';
export * from './telemetry.ts';
export * from './wait.ts';
