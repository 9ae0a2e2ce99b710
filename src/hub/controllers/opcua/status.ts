import { isDeepStrictEqual } from 'node:util';
import type { KubeObject, OpcUaConnectorStatus, RolloutSummary } from '../../../api/index.ts';
import { type Condition, withTransitionTimes } from '../placement/index.ts';

/** At most this many devices are listed in `status.connections`. */
export const MAX_CONNECTIONS = 50;

/** What the hub heard from the connector on one matched device. */
export interface Connection {
  readonly device: string;
  /** The connector's last status message said it is connected, and the device is not unreachable. */
  readonly connected: boolean;
  readonly error?: string;
  /** When the hub last received a value from it (ISO 8601). */
  readonly lastValueTime?: string;
}

/** Everything the status is made of, read from caches by the reconciler. */
export interface StatusInput {
  readonly connector: KubeObject;
  /** Set when the Workload and Placement hold the current spec. */
  readonly rendered?: { readonly workload: string; readonly placement: string; readonly configHash: string };
  /** Why they do not (a Secret missing, a name taken by an object the connector does not own). */
  readonly problem?: { readonly reason: string; readonly message: string };
  /** The rendered Placement as cached (its status has the device counts). */
  readonly placement?: KubeObject;
  /** Per matched device; undefined when the hub has no telemetry table. */
  readonly connections?: readonly Connection[];
  /** Now, as a Kubernetes timestamp (condition transitions). */
  readonly now: string;
}

/**
 * The connector's status: what was rendered (kept from before while a
 * problem stops rendering: it still runs), the Placement's device counts plus
 * how many devices are connected to the server, the last value time, a
 * bounded per-device list, and the Rendered and Ready conditions.
 */
export function connectorStatus(input: StatusInput): OpcUaConnectorStatus {
  const previous = input.connector.status as OpcUaConnectorStatus | undefined;
  const generation = input.connector.metadata.generation;
  const summary = input.placement?.status as RolloutSummary | undefined;
  const counts = summary?.devices;
  const connections = input.connections;
  const connected = connections?.filter((c) => c.connected).length;
  const lastValueTime = connections
    ?.map((c) => c.lastValueTime)
    .filter((time): time is string => time !== undefined)
    .sort()
    .at(-1);
  const rendered = input.rendered ?? {
    workload: previous?.workload,
    placement: previous?.placement,
    configHash: previous?.configHash,
  };

  const renderedCondition: Condition = input.problem
    ? { type: 'Rendered', status: 'False', ...input.problem }
    : {
        type: 'Rendered',
        status: 'True',
        reason: 'Rendered',
        message: `Workload and Placement ${input.connector.metadata.name} are current`,
      };
  const ready = readyCondition(input, connected);
  const conditions = withTransitionTimes(
    [renderedCondition, ready].map((c) =>
      generation === undefined ? c : { ...c, observedGeneration: generation },
    ),
    previous?.conditions as Condition[] | undefined,
    input.now,
  );
  const sorted = [...(connections ?? [])].sort(
    (a, b) => Number(a.connected) - Number(b.connected) || (a.device < b.device ? -1 : 1),
  );
  return {
    ...(generation === undefined ? {} : { observedGeneration: generation }),
    ...(rendered.workload === undefined ? {} : { workload: rendered.workload }),
    ...(rendered.placement === undefined ? {} : { placement: rendered.placement }),
    ...(rendered.configHash === undefined ? {} : { configHash: rendered.configHash }),
    ...(counts
      ? {
          devices: {
            matched: counts.matched,
            running: counts.running,
            failed: counts.failed,
            unreachable: counts.unreachable,
            ...(connected === undefined ? {} : { connected }),
          },
        }
      : {}),
    ...(lastValueTime === undefined ? {} : { lastValueTime }),
    ...(connections === undefined
      ? {}
      : { connections: sorted.slice(0, MAX_CONNECTIONS).map(stripUndefined) }),
    conditions,
  };
}

function readyCondition(input: StatusInput, connected: number | undefined): Condition {
  if (input.problem) {
    return { type: 'Ready', status: 'False', reason: 'NotRendered', message: input.problem.message };
  }
  const placementReady = (
    (input.placement?.status as RolloutSummary | undefined)?.conditions as Condition[] | undefined
  )?.find((c) => c.type === 'Ready');
  if (!placementReady) {
    return {
      type: 'Ready',
      status: 'Unknown',
      reason: 'Progressing',
      message: 'the Placement has no status yet',
    };
  }
  if (placementReady.status !== 'True') {
    return {
      type: 'Ready',
      status: placementReady.status,
      reason: placementReady.reason,
      message: placementReady.message,
    };
  }
  const connections = input.connections;
  if (connections === undefined || connected === undefined) {
    return { type: 'Ready', status: 'True', reason: 'Running', message: placementReady.message };
  }
  const running = (input.placement?.status as RolloutSummary | undefined)?.devices?.running ?? 0;
  const server = (input.connector.spec as { server: string }).server;
  if (connected >= running) {
    return {
      type: 'Ready',
      status: 'True',
      reason: 'Connected',
      message: `${connected}/${running} devices connected to ${server}`,
    };
  }
  const errors = connections
    .filter((c) => !c.connected)
    .slice(0, 3)
    .map((c) => `${c.device}: ${c.error ?? 'no status reported'}`)
    .join('; ');
  return {
    type: 'Ready',
    status: 'False',
    reason: 'Disconnected',
    message: `${connected}/${running} devices connected to ${server}${errors ? `; ${errors}` : ''}`,
  };
}

/**
 * Whether `next` says nothing `previous` does not, ignoring last value times
 * that moved by less than `refreshMs` (values arrive many times a second: the
 * status follows them coarsely, not with a write per value).
 */
export function sameStatus(
  previous: OpcUaConnectorStatus | undefined,
  next: OpcUaConnectorStatus,
  refreshMs: number,
): boolean {
  if (!previous) return false;
  const close = (a: string | undefined, b: string | undefined) =>
    a === b || (a !== undefined && b !== undefined && Math.abs(Date.parse(a) - Date.parse(b)) < refreshMs);
  if (!close(previous.lastValueTime, next.lastValueTime)) return false;
  const before = previous.connections ?? [];
  const after = next.connections ?? [];
  if (before.length !== after.length) return false;
  for (let i = 0; i < after.length; i++) {
    if (!close(before[i]!.lastValueTime, after[i]!.lastValueTime)) return false;
  }
  const withoutTimes = (status: OpcUaConnectorStatus) => ({
    ...status,
    lastValueTime: undefined,
    connections: status.connections?.map((c) => ({ ...c, lastValueTime: undefined })),
  });
  return isDeepStrictEqual(withoutTimes(previous), withoutTimes(next));
}

function stripUndefined(connection: Connection): Connection {
  return {
    device: connection.device,
    connected: connection.connected,
    ...(connection.error === undefined ? {} : { error: connection.error }),
    ...(connection.lastValueTime === undefined ? {} : { lastValueTime: connection.lastValueTime }),
  };
}
