/**
 * Renewing the device's certificate before it expires: a new key, a CSR for
 * it sent over mTLS with the current certificate, the new credentials written
 * atomically and handed to the agent, which uses them for new connections
 * while open ones carry on. A device back after its certificate expired
 * renews the same way: the hub accepts an expired certificate of its own
 * within the grace period, the TLS handshake proving the old key is held.
 */
import { credentialsOf, type DeviceCredentials, saveCredentials } from './credentials.ts';
import { callHub, EnrollmentError, refusal } from './hub-client.ts';
import { createCsr, generateKeyPem } from './keys.ts';

/** Renews once: returns the new credentials, already saved in `dataDir`. */
export async function renewCredentials(
  current: DeviceCredentials,
  dataDir: string,
  signal?: AbortSignal,
): Promise<DeviceCredentials> {
  const keyPem = await generateKeyPem();
  const { status, body } = await callHub(`${current.hubUrl}/enroll/renew`, {
    method: 'POST',
    tls: { ca: current.caPem, cert: current.certPem, key: current.keyPem },
    body: { csr: await createCsr(keyPem, current.name) },
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
  return next;
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
  /** Milliseconds since the epoch. @default Date.now */
  readonly now?: () => number;
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
 * stopped or a terminal refusal (device deleted, grace exceeded).
 */
export function startRenewal(options: RenewalOptions): Renewal {
  const now = options.now ?? Date.now;
  const fraction = options.renewAt ?? 2 / 3;
  let current = options.credentials;
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
    inFlight ??= renewCredentials(current, options.dataDir, controller.signal).finally(() => {
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
    const start = current.notBefore.getTime();
    const due = start + (current.notAfter.getTime() - start) * fraction;
    const wait = Math.max(0, Math.min(delayMs ?? due - now(), MAX_WAIT_MS));
    timer = setTimeout(() => {
      if (delayMs === undefined && now() < due) return schedule();
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
