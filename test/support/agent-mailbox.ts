/**
 * The hub's side of the agent tests: Placements that put Workloads on
 * devices, `kubectl apply`, and the device's Mailbox with its reported
 * status as an admin reads it.
 */
import YAML from 'yaml';
import { type ApiClient, apiClient } from './https-client.ts';
import { type HubProcess, kubectl } from './hub-process.ts';
import { waitFor } from './wait.ts';

/** A Placement putting the Workloads labelled `app` on the devices labelled `site`. */
export function placementOf(namespace: string, name: string, selects: { app: string; site: string }) {
  return {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Placement',
    metadata: { name, namespace },
    spec: {
      workloadSelector: { matchLabels: { app: selects.app } },
      deviceSelector: { matchLabels: { site: selects.site } },
    },
  };
}

/** `kubectl apply` of objects given as JSON. */
export async function kubectlApply(
  hub: Pick<HubProcess, 'kubeconfig'>,
  ...objects: unknown[]
): Promise<void> {
  const documents = objects.map((object) => YAML.stringify(object)).join('---\n');
  const result = await kubectl(hub, ['apply', '-f', '-'], documents);
  if (result.code !== 0) throw new Error(`kubectl apply failed: ${result.stderr}`);
}

/** The device's Mailbox as the admin sees it. */
export async function getMailbox(api: ApiClient, name: string): Promise<MailboxJson | undefined> {
  const response = await api.request('GET', `/apis/outpost.dev/v1alpha1/mailboxes/${name}`);
  return response.status === 200 ? (response.json() as MailboxJson) : undefined;
}

/** Waits until the device's Mailbox holds an object named `name` (placed, not yet necessarily run). */
export async function waitForPlaced(
  hub: Pick<HubProcess, 'kubeconfig'>,
  device: string,
  name: string,
): Promise<void> {
  const admin = apiClient(hub.kubeconfig);
  try {
    await waitFor(`${name} placed on ${device}`, async () =>
      (await getMailbox(admin, device))?.spec?.objects?.some(
        (object) => object.object.metadata.name === name,
      ),
    );
  } finally {
    await admin.close();
  }
}

/** The parts of a Mailbox the agent tests read. */
export interface MailboxJson {
  metadata: { resourceVersion: string; generation?: number };
  spec?: { objects?: Array<{ hash: string; object: { kind: string; metadata: { name: string } } }> };
  status?: {
    objects?: Array<{
      ref: { kind: string; name: string };
      observedHash?: string;
      phase: string;
      ready?: boolean;
      restarts?: number;
      reason?: string;
      message?: string;
      exitCode?: number;
      cron?: {
        runs: Array<{ run: number; phase: string; reason?: string; message?: string; startTime?: string }>;
      };
    }>;
  };
}

/** The reported status of the object `kind/name`, when it is about the Mailbox's current content. */
export function currentStatus(mailbox: MailboxJson | undefined, kind: string, name: string) {
  const entry = mailbox?.spec?.objects?.find(
    (o) => o.object.kind === kind && o.object.metadata.name === name,
  );
  const status = mailbox?.status?.objects?.find((s) => s.ref.kind === kind && s.ref.name === name);
  return entry && status && status.observedHash === entry.hash ? status : undefined;
}
