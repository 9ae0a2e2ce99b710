/**
 * Renewing the device's certificate before it expires: a new key, a CSR for
 * it sent over mTLS with the current certificate, the new credentials written
 * atomically and handed to the agent, which uses them for new connections
 * while open ones carry on. A device back after its certificate expired
 * renews the same way: the hub accepts an expired certificate of its own
 * within the grace period, the TLS handshake proving the old key is held.
 *
 * Time: a certificate's dates are on the hub's clock, the device's wall clock
 * may be a day off or jump. So the moment to renew is worked out once per
 * certificate, against the hub's clock when the hub issued it (the Date of
 * its answer), and then waited for on the monotonic clock; only credentials
 * read from disk at start are judged by the device's wall clock, the one
 * reference there is (clamped, so a wrong clock costs one early renewal).
 */
import type { EnrollmentResponse, RenewRequest } from '../../api/index.ts';
import { monotonicMs } from '../../util/index.ts';
import { credentialsOf, type DeviceCredentials, saveCredentials } from './credentials.ts';
import { callHub, EnrollmentError, refusal } from './hub-call.ts';
import { createCsr, generateKeyPem } from './keys.ts';

/** Renews once: returns the new credentials, already saved in `dataDir`. */
export async function renewCredentials(
  current: DeviceCredentials,
  dataDir: string,
  signal?: AbortSignal,
): Promise<DeviceCredentials> {
  return (await renewOnce(current, dataDir, signal)).next;
}

/** Renews once; also returns the hub's clock at issue (epoch ms), when the hub sent it. */
async function renewOnce(
  current: DeviceCredentials,
  dataDir: string,
  signal?: AbortSignal,
): Promise<{ next: DeviceCredentials; hubTimeMs?: number }> {
  const keyPem = await generateKeyPem();
  const { status, body, hubTimeMs } = await callHub<EnrollmentResponse>(`${current.hubUrl}/enroll/renew`, {
    method: 'POST',
    tls: { ca: current.caPem, cert: current.certPem, key: current.keyPem },
    body: { csr: await createCsr(keyPem, current.name) } satisfies RenewRequest,
    signal,
  });
  if (status !== 200 || typeof body.certificate !== 'string')
    throw refusal(`renewal of ${current.name}'s certificate refused`, status, body);
  const next = credentialsOf(dataDir, {
    hubUrl: current.hubUrl,
    keyPem,
    certPem: body.certificate,
    caPem: typeof body.caCertificate === 'string' ? body.caCertificate : current.caPem,
  });
  await saveCredentials(dataDir, next);
  return { next, ...(hubTimeMs === undefined ? {} : { hubTimeMs }) };
}

/** Options of {@link startRenewal}. */
export interface RenewalOptions {
  readonly dataDir: string;
  readonly credentials: DeviceCredentials;
  /** Called with new credentials after each renewal (switch new connections to them). */
  readonly onRenewed?: (credentials: DeviceCredentials) => void;
  /** Called when a renewal fails; with `error.terminal` true renewal has stopped (enroll again). */
  readonly onError?: (error: unknown) => void;
  /** Fraction of the lifetime after which to renew. @default 2/3 */
  readonly renewAt?: number;
  /** First retry delay after a failure, doubled up to five minutes. @default 1000 */
  readonly retryMs?: number;
  /** Stops renewing. */
  readonly signal?: AbortSignal;
  /** Wall clock, milliseconds since the epoch (judges the credentials given at start). @default Date.now */
  readonly now?: () => number;
  /** Monotonic clock in milliseconds (measures every wait). @default monotonicMs (performance.now) */
  readonly monotonic?: () => number;
}

/** A running renewal loop. */
export interface Renewal {
  /** The credentials in force. */
  current(): DeviceCredentials;
  /** Renews now (outside the schedule); the schedule follows the new certificate. */
  renewNow(): Promise<DeviceCredentials>;
  stop(): void;
}

/** The longest a timer may wait (setTimeout overflows past 2^31-1 ms); longer waits are re-checked. */
const MAX_WAIT_MS = 24 * 3600 * 1000;
const MAX_RETRY_MS = 5 * 60 * 1000;

/**
 * Renews the certificate each time `renewAt` of its lifetime has passed
 * (measured from notBefore), retrying with doubling delays on failure, until
 * stopped or a terminal refusal (device deleted, grace exceeded). Waits are
 * monotonic (see the module comment).
 */
export function startRenewal(options: RenewalOptions): Renewal {
  const now = options.now ?? Date.now;
  const monotonic = options.monotonic ?? monotonicMs;
  const fraction = options.renewAt ?? 2 / 3;
  let current = options.credentials;
  /** When (monotonic ms) the current certificate is due for renewal. */
  let dueAt = 0;
  /** Plans the renewal of `credentials`, given the time (epoch ms, on the hub's clock if known) it is now. */
  const plan = (credentials: DeviceCredentials, reference: number) => {
    const start = credentials.notBefore.getTime();
    const renewAfter = (credentials.notAfter.getTime() - start) * fraction;
    dueAt = monotonic() + Math.min(Math.max(0, start + renewAfter - reference), renewAfter);
  };
  plan(current, now());
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const retryMs = options.retryMs ?? 1000;
  let failures = 0;
  let inFlight: Promise<DeviceCredentials> | undefined;
  const controller = new AbortController();
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
    controller.abort();
  };
  options.signal?.addEventListener('abort', stop, { once: true });

  const renew = (): Promise<DeviceCredentials> => {
    inFlight ??= renewOnce(current, options.dataDir, controller.signal)
      .then(({ next, hubTimeMs }) => {
        // Without the hub's time, the certificate was issued just now: its notBefore is the best guess.
        plan(next, hubTimeMs ?? next.notBefore.getTime());
        return next;
      })
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight.then((next) => {
      if (next !== current) {
        current = next;
        failures = 0;
        options.onRenewed?.(next);
        schedule();
      }
      return next;
    });
  };

  const schedule = (delayMs?: number) => {
    clearTimeout(timer);
    if (stopped) return;
    const wait = Math.max(0, Math.min(delayMs ?? dueAt - monotonic(), MAX_WAIT_MS));
    timer = setTimeout(() => {
      if (delayMs === undefined && monotonic() < dueAt) return schedule();
      renew().catch((error: unknown) => {
        if (stopped) return;
        options.onError?.(error);
        if (error instanceof EnrollmentError && error.terminal) return stop();
        failures++;
        schedule(Math.min(retryMs * 2 ** (failures - 1), MAX_RETRY_MS));
      });
    }, wait);
    timer.unref?.();
  };
  schedule();
  return { current: () => current, renewNow: renew, stop };
}
