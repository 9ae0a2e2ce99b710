/**
 * Kubernetes probes (`startupProbe`, `readinessProbe`, `livenessProbe`; exec,
 * httpGet and tcpSocket) run by the agent for both runtimes, so that ready
 * means the same on either: spec.ts reads them with their defaults,
 * checks.ts makes one try, prober.ts runs them over a container's life.
 */
export { check, type ExecResult, type ProbeTarget } from './checks.ts';
export { ContainerProbes, type ProbeHandlers } from './prober.ts';
export {
  type Probe,
  type ProbeAction,
  type ProbeKind,
  type ProbeShape,
  probesOf,
  withoutProbes,
} from './spec.ts';
