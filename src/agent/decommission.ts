/**
 * A decommissioned device: the hub answered that its Device is gone (a 401
 * naming the cause `DeviceDecommissioned`, never a mere network error or a
 * certificate the hub does not know). The agent then removes its workloads,
 * its credentials and what belonged to that identity (the Mailbox copy, the
 * report and telemetry outboxes), leaves a marker saying what happened, and
 * exits non-zero. A later start on that data dir finds the marker and says
 * the device was decommissioned and how to enroll again, instead of failing
 * on missing credentials.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/index.ts';

const MARKER = 'decommissioned.json';

/** What the credentials and the old identity's state are, in the data dir. */
const IDENTITY_FILES = [
  'kubeconfig',
  'enrollment.key',
  'enrollment-ca.crt',
  'mailbox.json',
  'outbox',
  'telemetry-outbox',
];

/** The agent stops because its device was decommissioned (the CLI exits non-zero with its message). */
export class DecommissionedError extends Error {
  override readonly name = 'DecommissionedError';
}

interface Marker {
  readonly device: string;
  readonly at: string;
  readonly message: string;
}

/**
 * Deletes the credentials and the old identity's state and writes the
 * marker, once the workloads are removed and the parts that write into the
 * data dir (renewal, telemetry, reports) have stopped. Returns the error the
 * agent ends with.
 */
export async function forgetDecommissionedDevice(
  dataDir: string,
  device: string,
  hubMessage: string,
): Promise<DecommissionedError> {
  for (const file of IDENTITY_FILES) await rm(join(dataDir, file), { recursive: true, force: true });
  const marker: Marker = { device, at: new Date().toISOString(), message: hubMessage };
  await writeFileAtomic(join(dataDir, MARKER), JSON.stringify(marker), 0o600);
  return new DecommissionedError(
    `device ${device} was decommissioned by the hub (${hubMessage}): its workloads were stopped and removed and its credentials deleted; ${howToEnroll(dataDir)}`,
  );
}

/**
 * At start: when the data dir holds the marker of a decommissioned device,
 * refuses to run unless a bootstrap token is given to enroll again (the
 * marker then goes with {@link clearDecommissioned} once enrolled).
 * @throws DecommissionedError saying so, and how to enroll again
 */
export async function checkDecommissioned(dataDir: string, token: string | undefined): Promise<void> {
  let marker: Marker;
  try {
    marker = JSON.parse(await readFile(join(dataDir, MARKER), 'utf8')) as Marker;
  } catch {
    return;
  }
  if (token !== undefined) return;
  throw new DecommissionedError(
    `device ${marker.device} was decommissioned at ${marker.at} (its Device was deleted on the hub) and holds no credentials any more; ${howToEnroll(dataDir)}`,
  );
}

/** Removes the marker once the device has enrolled again. */
export async function clearDecommissioned(dataDir: string): Promise<void> {
  await rm(join(dataDir, MARKER), { force: true });
}

function howToEnroll(dataDir: string): string {
  return `to enroll again, start the agent with --token and a new bootstrap token, or remove ${dataDir}`;
}
