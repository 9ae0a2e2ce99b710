import type { ContainerShape } from '../pod-spec.ts';

/** A Kubernetes probe as a pod spec declares it (`readinessProbe`, `livenessProbe`, `startupProbe`). */
export interface ProbeShape {
  exec?: { command?: string[] };
  httpGet?: {
    path?: string;
    port: number | string;
    host?: string;
    scheme?: 'HTTP' | 'HTTPS';
    httpHeaders?: { name: string; value: string }[];
  };
  tcpSocket?: { port: number | string; host?: string };
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  successThreshold?: number;
  failureThreshold?: number;
}

/** Which of a container's probes: they differ in what a failure does. */
export type ProbeKind = 'startup' | 'readiness' | 'liveness';

/** What a probe checks, with a named port already resolved against the container's `ports`. */
export type ProbeAction =
  | { readonly kind: 'exec'; readonly command: readonly string[] }
  | {
      readonly kind: 'httpGet';
      readonly port: number;
      readonly path: string;
      readonly host?: string;
      readonly https: boolean;
      readonly headers: Readonly<Record<string, string>>;
    }
  | { readonly kind: 'tcpSocket'; readonly port: number; readonly host?: string };

/** A probe with Kubernetes' defaults applied, in milliseconds. */
export interface Probe {
  readonly kind: ProbeKind;
  readonly action: ProbeAction;
  /** @default 0 */
  readonly initialDelayMs: number;
  /** @default 10000 */
  readonly periodMs: number;
  /** @default 1000 */
  readonly timeoutMs: number;
  /** Consecutive successes that count (always 1 for liveness and startup). @default 1 */
  readonly successThreshold: number;
  /** Consecutive failures that count. @default 3 */
  readonly failureThreshold: number;
}

const FIELDS: Record<ProbeKind, 'startupProbe' | 'readinessProbe' | 'livenessProbe'> = {
  startup: 'startupProbe',
  readiness: 'readinessProbe',
  liveness: 'livenessProbe',
};

/**
 * The probes `container` declares, defaults applied (Kubernetes': no delay,
 * every 10 s, 1 s timeout, 1 success, 3 failures). A probe without a usable
 * action (no handler, a port name the container does not declare) is left
 * out: the hub validated the spec, and Kubernetes would reject it there.
 */
export function probesOf(container: ContainerShape): Probe[] {
  const probes: Probe[] = [];
  for (const kind of ['startup', 'readiness', 'liveness'] as const) {
    const shape = container[FIELDS[kind]] as ProbeShape | undefined;
    if (!shape || typeof shape !== 'object') continue;
    const action = actionOf(shape, container);
    if (!action) continue;
    const seconds = (value: number | undefined, fallback: number, min = 0) =>
      Math.max(min, typeof value === 'number' && Number.isFinite(value) ? value : fallback) * 1000;
    probes.push({
      kind,
      action,
      initialDelayMs: seconds(shape.initialDelaySeconds, 0),
      periodMs: seconds(shape.periodSeconds, 10, 1),
      timeoutMs: seconds(shape.timeoutSeconds, 1, 1),
      successThreshold: kind === 'readiness' ? Math.max(1, shape.successThreshold ?? 1) : 1,
      failureThreshold: Math.max(1, shape.failureThreshold ?? 3),
    });
  }
  return probes;
}

/** The container without its probes: what podman gets (the agent runs them, not podman's healthchecks). */
export function withoutProbes(container: ContainerShape): ContainerShape {
  const { startupProbe: _s, readinessProbe: _r, livenessProbe: _l, ...rest } = container;
  return rest;
}

function actionOf(shape: ProbeShape, container: ContainerShape): ProbeAction | undefined {
  if (shape.exec?.command?.length) return { kind: 'exec', command: [...shape.exec.command] };
  if (shape.httpGet) {
    const port = portOf(shape.httpGet.port, container);
    if (port === undefined) return undefined;
    const headers: Record<string, string> = {};
    for (const header of shape.httpGet.httpHeaders ?? []) headers[header.name] = header.value;
    return {
      kind: 'httpGet',
      port,
      path: shape.httpGet.path || '/',
      ...(shape.httpGet.host ? { host: shape.httpGet.host } : {}),
      https: shape.httpGet.scheme === 'HTTPS',
      headers,
    };
  }
  if (shape.tcpSocket) {
    const port = portOf(shape.tcpSocket.port, container);
    if (port === undefined) return undefined;
    return { kind: 'tcpSocket', port, ...(shape.tcpSocket.host ? { host: shape.tcpSocket.host } : {}) };
  }
  return undefined;
}

/** A probe port: a number, a numeric string, or the name of one of the container's `ports`. */
function portOf(port: number | string, container: ContainerShape): number | undefined {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  const ports = (container.ports ?? []) as { name?: string; containerPort?: number }[];
  return ports.find((p) => p.name === port)?.containerPort;
}
