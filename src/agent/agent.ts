import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { delay, lockDataDir, networkReason } from '../util/index.ts';
import { Backoff } from './backoff.ts';
import { checkDecommissioned, clearDecommissioned, forgetDecommissionedDevice } from './decommission.ts';
import {
  type DeviceCredentials,
  EnrollmentError,
  enroll,
  loadCredentials,
  startRenewal,
} from './enrollment/index.ts';
import {
  type DeviceDecommissionedError,
  followHubProxy,
  HubApi,
  hubProxy,
  loadHubProxy,
  saveHubProxy,
  useHubProxy,
} from './hub-client/index.ts';
import { LogServer } from './log-server.ts';
import { createAgentMetrics } from './metrics.ts';
import { DevicePolicies, type Reserve, ResourceGuard } from './policy/index.ts';
import { CronRuns, UnitReconciler } from './reconcile/index.ts';
import { Heartbeat, Reporter, ReportOutbox } from './reports/index.ts';
import {
  createPodmanRuntime,
  createProcessRuntime,
  type RestartTiming,
  type Runtime,
} from './runtime/index.ts';
import { MailboxSync } from './sync.ts';
import { startAgentTelemetry } from './telemetry/index.ts';
import { Uploader } from './uploads/index.ts';

/** Options of {@link runAgent}. */
export interface AgentOptions {
  /** The agent's folder: credentials, local Mailbox copy, outbox, runtime state. */
  readonly dataDir: string;
  /** Needed only until the device has enrolled. */
  readonly hubUrl?: string;
  /** Bootstrap token; needed only until the device has enrolled. */
  readonly token?: string;
  /**
   * The parent gateway's proxy for every connection to the hub (nested
   * networks); kept in the data dir. @default the one kept there, if any
   */
  readonly hubProxy?: string;
  /** The device's name at enrollment. @default the host name, lower-cased */
  readonly name?: string;
  /** Labels asked for at enrollment; the bootstrap token must allow them (else the hub refuses the enrollment). */
  readonly labels?: Readonly<Record<string, string>>;
  /** @default 'process' */
  readonly runtime?: 'process' | 'podman';
  readonly log: Logger;
  /** Stop every workload when the agent stops. @default false: workloads keep running and are adopted next time */
  readonly stopWorkloadsOnExit?: boolean;
  /** Process runtime restart delays (tests shorten them). */
  readonly restart?: RestartTiming;
  /** Report outbox bound (entries). @default 500 */
  readonly outboxMaxEntries?: number;
  /** Telemetry outbox bound in bytes. @default 64 MiB */
  readonly telemetryOutboxMaxBytes?: number;
  /** The metrics endpoint's port on 127.0.0.1 (0: any free port). @default none: no endpoint */
  readonly metricsPort?: number;
  /** How long a posted metric lasts without a new POST. @default 60000 */
  readonly metricTtlMs?: number;
  /** How long a file in an upload directory must stay unchanged to be uploaded. @default 2000 */
  readonly uploadSettleMs?: number;
  /** Memory kept for the device: workloads' requests may not cut into it; below it, workloads are evicted. @default 256Mi */
  readonly reserveMemory?: Reserve;
  /** Disk of the data dir's filesystem kept free, the same way. @default 10% */
  readonly reserveDisk?: Reserve;
  /**
   * How the process runtime enforces containers' limits: `auto` uses cgroups
   * where the host lets it (v2 delegated, else v1), else rlimits; `off` only
   * rlimits. @default 'auto'
   */
  readonly cgroups?: 'auto' | 'off';
  /** Called once the agent runs (enrolled, runtime started). */
  readonly onReady?: (info: { name: string }) => void;
}

/**
 * Runs the agent until `signal` aborts: enrolls when the data dir holds no
 * credentials (retrying while the hub is unreachable), starts the runtime
 * (adopting what runs), then runs sync, reconcile, heartbeats and the outbox
 * sender side by side. On abort, workloads are left running unless
 * `stopWorkloadsOnExit`.
 */
export async function runAgent(options: AgentOptions, signal: AbortSignal): Promise<void> {
  const { log, dataDir } = options;
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  // Also when someone made it beforehand: only the agent enters it (its keys, every unit's Secrets).
  await chmod(dataDir, 0o700);
  // Two agents on one data dir would start every workload twice.
  await lockDataDir(dataDir, { file: 'agent.pid', what: 'agent' });
  await checkDecommissioned(dataDir, options.token);
  if (options.hubProxy !== undefined) await saveHubProxy(dataDir, options.hubProxy);
  else useHubProxy(await loadHubProxy(dataDir));
  const credentials = await credentialsFor(options, signal);
  if (!credentials) return;
  await clearDecommissioned(dataDir);
  const deviceLog = log.child({ device: credentials.name });
  // One failing loop (a bug: each handles its own errors) stops the others rather than leaving a half agent;
  // so does the hub's answer that the device was decommissioned, whichever loop gets it.
  const inner = new AbortController();
  let decommissioned: DeviceDecommissionedError | undefined;
  const api = new HubApi(credentials, {
    onDecommissioned: (error) => {
      decommissioned ??= error;
      inner.abort();
    },
  });
  let current = credentials;
  // The local MQTT endpoint first: its address goes into every workload's environment.
  const telemetry = await startAgentTelemetry({
    dataDir,
    device: credentials.name,
    credentials: () => current,
    log: deviceLog.child({ component: 'telemetry' }),
    ...(options.telemetryOutboxMaxBytes !== undefined
      ? { outboxMaxBytes: options.telemetryOutboxMaxBytes }
      : {}),
  });
  const renewal = startRenewal({
    dataDir,
    credentials,
    signal,
    onRenewed: (next) => {
      deviceLog.info({ notAfter: next.notAfter.toISOString() }, 'certificate renewed');
      api.setCredentials(next);
      current = next;
      telemetry.credentialsRenewed();
    },
    onError: (error) => deviceLog.warn({ err: (error as Error).message }, 'certificate renewal failed'),
  });

  // Upload directories sit beside the data dir (workloads write there; they never see the data dir).
  const uploadsDir = `${resolve(dataDir)}.uploads`;
  const runtime: Runtime =
    options.runtime === 'podman'
      ? createPodmanRuntime({
          dataDir,
          logger: deviceLog.child({ component: 'podman' }),
          env: telemetry.env,
        })
      : createProcessRuntime({
          dir: join(dataDir, 'process'),
          // Workloads never see the data dir: credentials, keys, other units' Secrets.
          hiddenDirs: [resolve(dataDir)],
          // Nor other workloads' upload folders (each unit is bound its own).
          concealedDirs: [uploadsDir],
          workloadsDir: `${resolve(dataDir)}.workloads`,
          logger: deviceLog.child({ component: 'process' }),
          ...(options.restart ? { restart: options.restart } : {}),
          ...(options.cgroups ? { cgroups: options.cgroups } : {}),
          env: telemetry.env,
        });
  await runtime.start();
  if (runtime.name === 'process' && process.getuid?.() === 0) {
    // As kubelet: the kernel's OOM killer takes any workload before the agent (each unit's shim sets its own
    // score by QoS class). Not with podman, whose processes would inherit it.
    await writeFile('/proc/self/oom_score_adj', '-999').catch((error: unknown) =>
      deviceLog.warn({ err: (error as Error).message }, 'oom_score_adj of the agent not lowered'),
    );
  }
  const outbox = await ReportOutbox.open({
    dir: join(dataDir, 'outbox'),
    maxEntries: options.outboxMaxEntries ?? 500,
  });
  let heartbeat: Heartbeat | undefined;
  // Set below; the policies' callbacks run only once everything is built.
  let reconciler: UnitReconciler | undefined;
  const metrics = createAgentMetrics({
    statuses: () => reconciler?.statuses ?? [],
    reportOutbox: () => outbox.size,
    telemetryOutbox: () => ({ messages: telemetry.outbox.size, bytes: telemetry.outbox.bytes }),
    profiles: () => policies.report(),
  });
  const policies = new DevicePolicies({
    dataDir,
    log: deviceLog.child({ component: 'policies' }),
    ...(options.metricsPort !== undefined ? { metricsPort: options.metricsPort } : {}),
    ...(options.metricTtlMs !== undefined ? { metricTtlMs: options.metricTtlMs } : {}),
    onGateChange: () => reconciler?.trigger(),
    onTransitions: () => heartbeat?.beat(),
    exposition: () => metrics.render(),
  });
  const guard = new ResourceGuard({
    dataDir,
    log: deviceLog.child({ component: 'guard' }),
    ...(options.reserveMemory ? { reserveMemory: options.reserveMemory } : {}),
    ...(options.reserveDisk ? { reserveDisk: options.reserveDisk } : {}),
    posted: (name) => policies.posted(name),
    onChange: () => reconciler?.trigger(),
    onPressureChange: () => heartbeat?.beat(),
  });
  await guard.start();
  const reporter = new Reporter({
    api,
    outbox,
    log: deviceLog.child({ component: 'reporter' }),
    onDevice: (device) => {
      sync.hubAnswered();
      heartbeat?.updateFromDevice(device);
      followHubProxy(dataDir, device).then(
        (proxy) =>
          proxy && deviceLog.info({ proxy }, "the hub's connections go through the parent's proxy now"),
        (error: Error) => deviceLog.warn({ err: error.message }, 'cannot keep the parent proxy'),
      );
      telemetry
        .updateFromDevice(device)
        .catch((error: unknown) =>
          deviceLog.warn({ err: (error as Error).message }, 'uplink target not remembered'),
        );
    },
  });
  const cron = await CronRuns.open({
    file: join(dataDir, 'cron.json'),
    log: deviceLog.child({ component: 'cron' }),
  });
  const uploader = new Uploader({
    api,
    device: credentials.name,
    root: uploadsDir,
    dataDir,
    log: deviceLog.child({ component: 'uploads' }),
    ...(options.uploadSettleMs !== undefined ? { settleMs: options.uploadSettleMs } : {}),
    onChange: () => heartbeat?.beat(),
  });
  reconciler = new UnitReconciler({
    runtime,
    uploadsDir,
    cron,
    hold: (entry) => policies.hold(entry),
    admit: (units, actual) => guard.admit(units, actual),
    log: deviceLog.child({ component: 'reconcile' }),
    statusPending: () => outbox.lastOf('mailbox-status') !== undefined,
    onStatus: async (status, transition) => {
      await outbox.append('mailbox-status', status, transition);
      reporter.wake();
    },
  });
  heartbeat = new Heartbeat({
    dataDir,
    log: deviceLog.child({ component: 'heartbeat' }),
    statuses: () => reconciler.statuses,
    profiles: () => policies.report(),
    guard: () => guard.report(),
    backlog: () => ({ outboxEntries: outbox.size, telemetryOutboxMessages: telemetry.outbox.size }),
    uploads: () => uploader.report(),
    hubProxy,
    send: async (status, transition) => {
      await outbox.append('device-status', status, transition);
      reporter.wake();
    },
  });
  let mailboxes: Promise<void> = Promise.resolve();
  const sync = new MailboxSync({
    api,
    dataDir,
    log: deviceLog.child({ component: 'sync' }),
    // The policies see a Mailbox first (its profiles decide what may run), one Mailbox at a time.
    onMailbox: (mailbox) => {
      mailboxes = mailboxes
        .then(() => policies.setMailbox(mailbox))
        .catch((error: unknown) => deviceLog.error({ err: error }, 'device profiles not applied'))
        .then(() => uploader.setMailbox(mailbox))
        .catch((error: unknown) => deviceLog.error({ err: error }, 'upload directories not made'))
        .then(() => reconciler.setDesired(mailbox));
    },
    onState: (state) => {
      if (state === 'connected') reporter.reconnected();
    },
  });
  const logServer = new LogServer({
    api,
    runtime,
    log: deviceLog.child({ component: 'logs' }),
    pickRun: (namespace, workload, run) => cron.pick(namespace, workload, run),
  });
  deviceLog.info({ runtime: runtime.name, outbox: outbox.size }, 'agent running');
  options.onReady?.({ name: credentials.name });
  const stop = () => inner.abort();
  signal.addEventListener('abort', stop, { once: true });
  const loop = (run: Promise<void>) =>
    run.catch((error: unknown) => {
      inner.abort();
      throw error;
    });
  try {
    await Promise.all(
      [sync, reconciler, reporter, heartbeat, logServer, telemetry, policies, guard, uploader].map((part) =>
        loop(part.run(inner.signal)),
      ),
    );
  } finally {
    signal.removeEventListener('abort', stop);
    renewal.stop();
    if (decommissioned) {
      deviceLog.error(
        { hub: decommissioned.message },
        'device decommissioned by the hub: removing its workloads and credentials, then exiting',
      );
      for (const unit of await runtime.list()) await runtime.remove(unit.id);
    }
    const stopUnits = decommissioned !== undefined || (options.stopWorkloadsOnExit ?? false);
    await runtime.close({ stopUnits });
    await telemetry.close();
    await api.close();
    deviceLog.info({ workloadsStopped: stopUnits }, 'agent stopped');
  }
  if (decommissioned)
    throw await forgetDecommissionedDevice(dataDir, credentials.name, decommissioned.message);
}

/** The device's credentials: those in the data dir, else a (retried) enrollment. */
async function credentialsFor(
  options: AgentOptions,
  signal: AbortSignal,
): Promise<DeviceCredentials | undefined> {
  const existing = await loadCredentials(options.dataDir);
  if (existing) return existing;
  if (!options.hubUrl || !options.token)
    throw new Error(
      `${options.dataDir} holds no credentials: the first start needs --hub and --token to enroll`,
    );
  const name = options.name ?? hostname().toLowerCase();
  const backoff = new Backoff({ initialMs: 1000, maxMs: 60_000 });
  let reported = false;
  while (!signal.aborted) {
    try {
      const credentials = await enroll({
        hubUrl: options.hubUrl,
        token: options.token,
        name,
        dataDir: options.dataDir,
        ...(options.labels ? { labels: options.labels } : {}),
        signal,
        onPending: () => {
          if (!reported) options.log.info({ device: name }, 'enrollment waits for approval');
          reported = true;
        },
      });
      options.log.info({ device: name, notAfter: credentials.notAfter.toISOString() }, 'enrolled');
      return credentials;
    } catch (error) {
      if (signal.aborted) return undefined;
      if (error instanceof EnrollmentError && error.terminal) throw error;
      const first = backoff.failures === 0;
      const wait = backoff.next();
      // Once, in words: what was tried and why it failed; the retries that follow back off quietly.
      if (first)
        options.log.warn(
          { hub: options.hubUrl, reason: networkReason(error), retryInSeconds: Math.ceil(wait / 1000) },
          'cannot reach the hub to enroll: retrying with backoff (up to a minute apart)',
        );
      await delay(wait, signal).catch(() => {});
    }
  }
  return undefined;
}
