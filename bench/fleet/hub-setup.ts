// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${device.name}` placeholders are what the Workload carries.
/**
 * What the fleet benchmark puts on the hub through its API, as an admin
 * would: a Workload placed on every device, the Placement change whose
 * arrival is timed, and the count of Mailboxes the placement controllers made.
 */
import { Agent } from 'undici';
import type { Credentials } from '../support/index.ts';

const API = '/apis/outpost.dev/v1alpha1';

/** An admin client of the hub's API. */
export class AdminApi {
  readonly #dispatcher: Agent;
  readonly #origin: string;

  constructor(credentials: Credentials, origin = credentials.origin) {
    this.#origin = origin;
    this.#dispatcher = new Agent({
      connect: { ca: credentials.ca, cert: credentials.cert, key: credentials.key },
      bodyTimeout: 120_000,
      headersTimeout: 120_000,
    });
  }

  async send(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
  ): Promise<string> {
    const response = await this.#dispatcher.request({
      origin: this.#origin,
      method: method as 'GET',
      path,
      headers: body === undefined ? {} : { 'content-type': contentType },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.body.text();
    if (response.statusCode >= 300)
      throw new Error(`${method} ${path}: ${response.statusCode} ${text.slice(0, 300)}`);
    return text;
  }

  async close(): Promise<void> {
    await this.#dispatcher.close();
  }
}

/** Namespace `fleet`, Workload `app` (a Deployment and a ConfigMap customised per device) and Placement `everywhere` on all devices. */
export async function placeOnEveryDevice(api: AdminApi): Promise<void> {
  await api.send('POST', '/api/v1/namespaces', {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: 'fleet' },
  });
  await api.send('POST', `${API}/namespaces/fleet/workloads`, {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Workload',
    metadata: { name: 'app', namespace: 'fleet' },
    spec: {
      resources: [
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'app', labels: { app: 'app' } },
          spec: {
            replicas: 1,
            selector: { matchLabels: { app: 'app' } },
            template: {
              metadata: { labels: { app: 'app' } },
              spec: {
                containers: [
                  {
                    name: 'app',
                    image: 'localhost/busybox:latest',
                    command: ['/bin/sh', '-c', 'while true; do date; sleep 60; done'],
                    env: [
                      { name: 'MODE', value: 'normal' },
                      { name: 'DEVICE', value: '${device.name}' },
                    ],
                    resources: { limits: { memory: '64Mi', cpu: '100m' } },
                  },
                ],
              },
            },
          },
        },
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'app-config' },
          data: { 'config.yaml': 'device: ${device.name}\nlevel: info\n' },
        },
      ],
    },
  });
  await api.send('POST', `${API}/namespaces/fleet/placements`, {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Placement',
    metadata: { name: 'everywhere', namespace: 'fleet' },
    spec: { workloadSelector: {}, deviceSelector: {} },
  });
}

/** The Placement change: every device's Deployment gets env MODE=`marker` (every Mailbox changes). */
export async function changePlacement(api: AdminApi, marker: string): Promise<void> {
  await api.send(
    'PATCH',
    `${API}/namespaces/fleet/placements/everywhere`,
    {
      spec: {
        customization: {
          overrides: [
            {
              deviceSelector: {},
              target: { kind: 'Deployment' },
              patch: [{ op: 'replace', path: '/spec/template/spec/containers/0/env/0/value', value: marker }],
            },
          ],
        },
      },
    },
    'application/merge-patch+json',
  );
}

/** How many Mailboxes exist (paged list). */
export async function countMailboxes(api: AdminApi): Promise<number> {
  let count = 0;
  let token: string | undefined;
  do {
    const page = JSON.parse(
      await api.send(
        'GET',
        `${API}/mailboxes?limit=2000${token ? `&continue=${encodeURIComponent(token)}` : ''}`,
      ),
    ) as { items: unknown[]; metadata: { continue?: string } };
    count += page.items.length;
    token = page.metadata.continue || undefined;
  } while (token);
  return count;
}

/** Waits until the placement controllers made `count` Mailboxes. */
export async function waitForMailboxes(api: AdminApi, count: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const made = await countMailboxes(api);
    if (made >= count) return;
    if (performance.now() > deadline)
      throw new Error(`only ${made} of ${count} Mailboxes after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

/** One device's Mailbox as stored (the baseline server serves one like it). */
export async function oneMailbox(api: AdminApi, name: string): Promise<string> {
  return api.send('GET', `${API}/mailboxes/${name}`);
}
