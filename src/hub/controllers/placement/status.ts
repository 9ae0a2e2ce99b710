import {
  HELD_REASONS,
  type Mailbox,
  type MailboxSource,
  type ObjectStatus,
  type RolloutSummary,
  updateWindowState,
} from '../../../api/index.ts';
import { identityOf } from './compose.ts';

/** How one device stands with one Workload (or, combined, with a Placement). */
export interface DeviceState {
  /** The device reported the current hash of every object. */
  readonly applied: boolean;
  /** Applied, and every object Running (or Succeeded) and not unready; never while unreachable. */
  readonly running: boolean;
  /** The device's heartbeats stopped. */
  readonly unreachable: boolean;
  /** Why the device fails, when it does (never while unreachable). */
  readonly failure?: { readonly reason: string; readonly message: string };
  /** When, in epoch milliseconds, the state changes by itself (a progress deadline runs out). */
  readonly recheckAt?: number;
  /** The schedule of its cron objects, as the device reported it for the current content. */
  readonly cron?: DeviceCron;
}

/** A device's cron objects, merged: latest times, earliest next time, active runs summed. */
export interface DeviceCron {
  readonly active: number;
  readonly lastScheduleTime?: string;
  readonly lastSuccessfulTime?: string;
  readonly nextScheduleTime?: string;
}

/** Merges cron reports: the latest last times, the earliest next time, the sum of active runs. */
export function mergeCron(parts: ReadonlyArray<DeviceCron | undefined>): DeviceCron | undefined {
  const present = parts.filter((p): p is DeviceCron => p !== undefined);
  if (present.length === 0) return undefined;
  const pick = (field: keyof Omit<DeviceCron, 'active'>, latest: boolean) => {
    const values = present.flatMap((p) => (p[field] ? [p[field]] : [])).sort();
    const value = latest ? values[values.length - 1] : values[0];
    return value ? { [field]: value } : {};
  };
  return {
    active: present.reduce((sum, p) => sum + p.active, 0),
    ...pick('lastScheduleTime', true),
    ...pick('lastSuccessfulTime', true),
    ...pick('nextScheduleTime', false),
  };
}

export interface EvaluateOptions {
  readonly now: number;
  /** How long a device may take to apply and run a change before it counts as failed. */
  readonly progressDeadlineMs: number;
  readonly unreachable: boolean;
}

const OK_PHASES = new Set(['Running', 'Succeeded']);

/**
 * Reasons an agent reports for an object that waits and will not come up by
 * itself: Kubernetes' container waiting reasons that are errors, the
 * runtimes' own (`ImageNotPresent`, `StartFailed`) and the agent's
 * `ApplyFailed`. An object reported with one of them (also as `Init:REASON`)
 * counts as failed at once, whatever its phase, not after the progress
 * deadline: waiting longer only hides what the device already said.
 */
export const FAILING_REASONS: ReadonlySet<string> = new Set([
  'ApplyFailed',
  'CrashLoopBackOff',
  'CreateContainerConfigError',
  'CreateContainerError',
  'ErrImageNeverPull',
  'ErrImagePull',
  'ImageInspectError',
  'ImageNotPresent',
  'ImagePullBackOff',
  'InitContainerFailed',
  'InvalidImageName',
  'PostStartHookError',
  'PreStartHookError',
  'RunContainerError',
  'StartFailed',
]);

/** Whether a report says the object failed: phase Failed, or a {@link FAILING_REASONS} reason. */
export function isFailing(status: Pick<ObjectStatus, 'phase' | 'reason'>): boolean {
  if (status.phase === 'Failed') return true;
  const reason = status.reason?.startsWith('Init:') ? status.reason.slice(5) : status.reason;
  return reason !== undefined && FAILING_REASONS.has(reason);
}

type Entry = NonNullable<NonNullable<Mailbox['spec']>['objects']>[number];
type Excluded = NonNullable<NonNullable<Mailbox['spec']>['excluded']>[number];

/** A Mailbox's objects grouped by source Workload, and the agent's reports by object identity. */
interface MailboxIndex {
  readonly byWorkload: Map<string, { entries: Entry[]; excluded: Excluded[] }>;
  readonly reported: Map<string, ObjectStatus>;
}

const EMPTY = { entries: [] as Entry[], excluded: [] as Excluded[] };
/** Indexes of cached (frozen, never changed) Mailboxes: a summary reads each Mailbox once per Workload. */
const indexes = new WeakMap<object, MailboxIndex>();

function indexOf(mailbox: Pick<Mailbox, 'spec' | 'status'>): MailboxIndex {
  const cached = indexes.get(mailbox);
  if (cached) return cached;
  const byWorkload = new Map<string, { entries: Entry[]; excluded: Excluded[] }>();
  const group = (source: MailboxSource) => {
    const key = `${source.namespace}/${source.workload}`;
    let found = byWorkload.get(key);
    if (!found) {
      found = { entries: [], excluded: [] };
      byWorkload.set(key, found);
    }
    return found;
  };
  for (const entry of mailbox.spec?.objects ?? []) group(entry.source).entries.push(entry);
  for (const entry of mailbox.spec?.excluded ?? []) group(entry.source).excluded.push(entry);
  const reported = new Map<string, ObjectStatus>();
  for (const status of mailbox.status?.objects ?? []) reported.set(identityOf(status.ref), status);
  const index = { byWorkload, reported };
  if (Object.isFrozen(mailbox)) indexes.set(mailbox, index);
  return index;
}

/**
 * The state of one device for one Workload, from its Mailbox: what the hub
 * placed there (objects, excluded objects) and what the agent reported.
 */
export function evaluateWorkload(
  mailbox: Pick<Mailbox, 'spec' | 'status'> | undefined,
  source: Pick<MailboxSource, 'namespace' | 'workload'>,
  options: EvaluateOptions,
): DeviceState {
  const index = mailbox ? indexOf(mailbox) : undefined;
  const { entries, excluded } = index?.byWorkload.get(`${source.namespace}/${source.workload}`) ?? EMPTY;
  // The agent's report of each entry, when it is about the current content.
  const statuses: Array<ObjectStatus | undefined> = [];
  let applied = entries.length > 0;
  let allRunning = applied;
  let failed: ObjectStatus | undefined;
  for (const entry of entries) {
    const reported = index!.reported.get(identityOf(refOf(entry.object)));
    const status = reported && reported.observedHash === entry.hash ? reported : undefined;
    statuses.push(status);
    if (!status) {
      applied = false;
      allRunning = false;
    } else if (isFailing(status)) {
      allRunning = false;
      // The agent tried this content and could not apply it: reported, not applied.
      if (status.reason === 'ApplyFailed') applied = false;
      failed ??= status;
    } else if (!OK_PHASES.has(status.phase) || status.ready === false) {
      allRunning = false;
    }
  }
  const unreachable = options.unreachable;
  const cron = mergeCron(
    statuses.map((s) =>
      s?.cron
        ? {
            active: s.cron.active,
            ...(s.cron.lastScheduleTime ? { lastScheduleTime: s.cron.lastScheduleTime } : {}),
            ...(s.cron.lastSuccessfulTime ? { lastSuccessfulTime: s.cron.lastSuccessfulTime } : {}),
            ...(s.cron.nextScheduleTime ? { nextScheduleTime: s.cron.nextScheduleTime } : {}),
          }
        : undefined,
    ),
  );
  const state = (failure?: DeviceState['failure'], recheckAt?: number): DeviceState => ({
    applied,
    running: allRunning && excluded.length === 0 && !unreachable,
    unreachable,
    ...(failure && !unreachable ? { failure } : {}),
    ...(recheckAt !== undefined ? { recheckAt } : {}),
    ...(cron ? { cron } : {}),
  });
  const first = excluded[0];
  if (first) {
    return state({ reason: first.reason, message: `${describeRef(first.ref)}: ${first.message}` });
  }
  if (failed) {
    const detail = failed.message ? `: ${failed.message}` : '';
    return state({
      reason: failed.reason ?? 'Failed',
      message: `${describeRef(failed.ref)} failed${detail}`,
    });
  }
  if (allRunning || entries.length === 0) return state();
  // Not there yet: within the deadline it is progressing, past it it has failed.
  let latest = 0;
  let late = 0;
  let waiting = false;
  entries.forEach((entry, i) => {
    const status = statuses[i];
    if (status && OK_PHASES.has(status.phase) && status.ready !== false) return;
    // Held by the device's policy (a profile condition): waiting as asked, not late.
    if (status?.reason !== undefined && HELD_REASONS.has(status.reason)) return;
    waiting = true;
    let since = entry.since ? Date.parse(entry.since) : 0;
    // A device that waited for its update window has the whole deadline from the window's opening.
    const window = entry.updateWindow
      ? updateWindowState(entry.updateWindow, new Date(options.now))
      : undefined;
    if (window?.openedAt && window.openedAt.getTime() > since) since = window.openedAt.getTime();
    if (since >= latest) {
      latest = since;
      late = i;
    }
  });
  if (!waiting) return state();
  const deadline = latest + options.progressDeadlineMs;
  if (options.now >= deadline) {
    const what = statuses[late] ? 'running' : 'applied';
    return state({
      reason: 'ProgressDeadlineExceeded',
      message: `${describeRef(refOf(entries[late]!.object))} not ${what} within ${Math.round(options.progressDeadlineMs / 1000)} s`,
    });
  }
  return state(undefined, deadline);
}

/**
 * One device's state across several Workloads (a Placement's): every one
 * applied / running, the first failure. With no Workload at all the device
 * runs nothing of the Placement: neither applied nor running.
 */
export function combineStates(states: readonly DeviceState[], unreachable: boolean): DeviceState {
  const failure = unreachable ? undefined : states.find((s) => s.failure)?.failure;
  const rechecks = states.flatMap((s) => (s.recheckAt === undefined ? [] : [s.recheckAt]));
  const some = states.length > 0;
  return {
    applied: some && states.every((s) => s.applied),
    running: some && !unreachable && states.every((s) => s.running),
    unreachable,
    ...(failure ? { failure } : {}),
    ...(rechecks.length > 0 ? { recheckAt: Math.min(...rechecks) } : {}),
    ...withCron(mergeCron(states.map((s) => s.cron))),
  };
}

function withCron(cron: DeviceCron | undefined): { cron?: DeviceCron } {
  return cron ? { cron } : {};
}

/** At most this many devices are listed as broken. */
export const MAX_BROKEN = 20;
/** At most this many failure reasons are listed. */
export const MAX_REASONS = 10;

/**
 * Counts, grouped failure reasons (most common first) and the first
 * {@link MAX_BROKEN} broken devices by name, from each device's state.
 */
export function summarize(
  states: ReadonlyMap<string, DeviceState>,
): Required<Pick<RolloutSummary, 'devices' | 'failureReasons' | 'broken'>> & Pick<RolloutSummary, 'cron'> {
  const devices = { matched: 0, applied: 0, running: 0, failed: 0, unreachable: 0 };
  const reasons = new Map<string, number>();
  const broken: Array<{ device: string; reason: string; message?: string }> = [];
  for (const name of [...states.keys()].sort()) {
    const state = states.get(name)!;
    devices.matched++;
    if (state.applied) devices.applied++;
    if (state.running) devices.running++;
    let reason: string | undefined;
    let message: string | undefined;
    if (state.unreachable) {
      devices.unreachable++;
      reason = 'DeviceUnreachable';
      message = 'no heartbeat from the device';
    } else if (state.failure) {
      devices.failed++;
      reason = state.failure.reason;
      message = state.failure.message;
    }
    if (reason) {
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
      if (broken.length < MAX_BROKEN) broken.push({ device: name, reason, ...(message ? { message } : {}) });
    }
  }
  const failureReasons = [...reasons]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, MAX_REASONS)
    .map(([reason, count]) => ({ reason, count }));
  const crons = [...states.values()].flatMap((s) => (s.cron ? [s.cron] : []));
  const cron = mergeCron(crons);
  return { devices, failureReasons, broken, ...(cron ? { cron: { devices: crons.length, ...cron } } : {}) };
}

function refOf(object: { kind: string; metadata: { namespace?: string; name?: string } }) {
  return { kind: object.kind, namespace: object.metadata.namespace, name: object.metadata.name ?? '' };
}

function describeRef(ref: { kind: string; namespace?: string; name: string }): string {
  return `${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`;
}
