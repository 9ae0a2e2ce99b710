import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type { Device, KubeObject } from '../../../api/index.ts';
import { controllerReference } from '../support.ts';

/** The namespace of every gateway's rendered Workload and Placement. */
export const GATEWAY_NAMESPACE = 'outpost-system';
/** The label the renderer sets on a gateway Device (its own name): its Placement selects it. */
export const GATEWAY_LABEL = 'outpost.dev/gateway';
/** Where the rendered processes find their configuration on the gateway. */
export const CONFIG_DIR = '/etc/outpost-gateway';
/** Each process's own folder (an emptyDir, kept across restarts): Mosquitto's queue, Squid's logs. */
export const DATA_DIR = '/var/lib/outpost-gateway';
export const DEFAULT_PROXY_PORT = 3128;
export const DEFAULT_BROKER_PORT = 1883;
/** The Deployments' names on the gateway (also how their health is found in its Mailbox status). */
export const PROXY_NAME = 'squid';
export const BROKER_NAME = 'mosquitto';

/** Where the level above a gateway is: the hub's API, and the broker its bridge goes to. */
export interface Upstream {
  /** The hub's API (`https://HOST:PORT`): the only CONNECT target the proxies allow. */
  readonly hubUrl?: string | undefined;
  /**
   * For a gateway with a parent: that parent's proxy and broker. For a top-level gateway the
   * proxy goes direct and the bridge goes to `hubMqtt`.
   */
  readonly parent?: { readonly address: string; readonly proxyPort: number; readonly brokerPort: number };
  /** The hub's external MQTT broker (`mqtt://HOST:PORT`, `outpost hub --mqtt`), for top-level bridges. */
  readonly hubMqtt?: string | undefined;
}

/** One child as the configuration names it. */
export interface Child {
  readonly name: string;
  /** The addresses its agent reported (`status.system.addresses`): the proxy accepts these only. */
  readonly addresses: readonly string[];
}

/**
 * Who the proxy lets in besides its children's reported addresses: the
 * networks the level below is in (`spec.gateway.childNetworks`, so that a
 * device can enroll through the proxy before its Device exists), and the
 * addresses refused even there: those of children decommissioned or moved
 * away, which the renderer remembers in the ConfigMap (`addresses.json`).
 */
export interface Admission {
  readonly childNetworks: readonly string[];
  readonly revoked: readonly string[];
}

/** The renderer's memory, in the rendered ConfigMap: what the proxy admitted and refused last time. */
export interface RememberedAddresses {
  readonly admitted: readonly string[];
  readonly revoked: readonly string[];
}

/** At most this many revoked addresses are remembered (the oldest are forgotten first). */
export const MAX_REVOKED = 1024;

/**
 * The addresses to refuse inside the child networks: those admitted or
 * refused before that no child reports now (a child reporting one again is
 * let in). None without child networks: only reported addresses are let in then.
 */
export function revokedAddresses(
  before: RememberedAddresses | undefined,
  children: readonly Child[],
  childNetworks: readonly string[],
): string[] {
  if (childNetworks.length === 0 || !before) return [];
  const current = new Set(children.flatMap((child) => child.addresses));
  const revoked = [...new Set([...before.revoked, ...before.admitted])].filter((a) => !current.has(a));
  return revoked.slice(-MAX_REVOKED);
}

/** Reads `addresses.json` from a rendered Workload; undefined when there is none or it does not parse. */
export function rememberedAddresses(workload: KubeObject | undefined): RememberedAddresses | undefined {
  const resources = (workload?.spec as { resources?: { kind?: string; data?: Record<string, string> }[] })
    ?.resources;
  const text = resources?.find((r) => r.kind === 'ConfigMap')?.data?.['addresses.json'];
  if (!text) return undefined;
  try {
    const parsed = JSON.parse(text) as Partial<RememberedAddresses>;
    const list = (value: unknown) =>
      Array.isArray(value) ? value.filter((a): a is string => typeof a === 'string') : [];
    return { admitted: list(parsed.admitted), revoked: list(parsed.revoked) };
  } catch {
    return undefined;
  }
}

/** What a gateway renders to. */
export interface RenderedGateway {
  readonly workload: KubeObject;
  readonly placement: KubeObject;
  /** `sha256:` of the configuration text: changes whenever a child, a port or the level above does. */
  readonly configHash: string;
}

/** The name of a gateway's Workload and Placement. */
export function gatewayObjectName(device: string): string {
  return `gateway-${device}`;
}

/** A gateway's ports, defaults applied. */
export function portsOf(device: KubeObject): { proxyPort: number; brokerPort: number } {
  const gateway = (device.spec as Device['spec'])?.gateway;
  return {
    proxyPort: gateway?.proxyPort ?? DEFAULT_PROXY_PORT,
    brokerPort: gateway?.brokerPort ?? DEFAULT_BROKER_PORT,
  };
}

/** The URL of a gateway's proxy as a child's agent uses it. */
export function proxyUrl(address: string, port: number): string {
  return `http://${isIP(address) === 6 ? `[${address}]` : address}:${port}`;
}

/** A gateway's `spec.gateway.childNetworks`. */
export function childNetworksOf(device: KubeObject): string[] {
  return [...((device.spec as Device['spec'])?.gateway?.childNetworks ?? [])];
}

/**
 * `squid.conf`: CONNECT only from the children's addresses (and the child
 * networks, less the revoked addresses), only to the hub's host and port;
 * through the parent's proxy (`cache_peer`, never direct) when the gateway
 * has a parent. Nothing is cached; logs go to the process output.
 */
export function squidConfig(
  proxyPort: number,
  children: readonly Child[],
  upstream: Upstream,
  admission: Admission = { childNetworks: [], revoked: [] },
): string {
  const sources = [...new Set(children.flatMap((child) => child.addresses))].sort();
  const hub = upstream.hubUrl ? new URL(upstream.hubUrl) : undefined;
  const lines = [
    '# Rendered by the Outpost hub: do not edit (the next change of a child re-renders it).',
    `http_port ${proxyPort}`,
    'pid_filename none',
    // Squid reopens log paths by name, which /dev/stdout (the runtime's log file) may refuse: its own folder.
    `cache_log ${DATA_DIR}/cache.log`,
    `access_log stdio:${DATA_DIR}/access.log`,
    'cache_store_log none',
    'cache deny all',
    'cache_mem 8 MB',
    'coredump_dir /tmp',
    'netdb_filename none',
    'pinger_enable off',
    'logfile_rotate 0',
    'shutdown_lifetime 0 seconds',
    'acl CONNECT method CONNECT',
  ];
  const allowed = hub !== undefined && sources.length > 0;
  if (hub) {
    const host = hub.hostname.replace(/^\[|\]$/g, '');
    lines.push(`acl upstream ${isIP(host) ? 'dst' : 'dstdomain'} ${host}`);
    lines.push(`acl upstream_port port ${hub.port || '443'}`);
  }
  for (const child of children) {
    if (child.addresses.length > 0) lines.push(`# ${child.name}: ${child.addresses.join(' ')}`);
  }
  if (hub && admission.revoked.length > 0) {
    // Before any allow: a decommissioned child inside a child network is refused.
    lines.push(`acl revoked src ${admission.revoked.join(' ')}`);
    lines.push('http_access deny revoked');
  }
  if (allowed) {
    lines.push(`acl children src ${sources.join(' ')}`);
    lines.push('http_access allow CONNECT children upstream upstream_port');
  }
  if (hub && admission.childNetworks.length > 0) {
    lines.push(`acl child_networks src ${admission.childNetworks.join(' ')}`);
    lines.push('http_access allow CONNECT child_networks upstream upstream_port');
  }
  lines.push('http_access deny all');
  if (upstream.parent) {
    const { address, proxyPort: port } = upstream.parent;
    lines.push(`cache_peer ${address} parent ${port} 0 no-query no-digest default`);
    lines.push('never_direct allow all');
  }
  return `${lines.join('\n')}\n`;
}

/**
 * `mosquitto.conf`: a listener for the children, its queue on disk, and a
 * bridge to the level above carrying each child's upward topics out and its
 * commands in, and nothing else (`mosquitto.acl` lets each child name only
 * its own topics).
 */
export function mosquittoConfig(brokerPort: number, children: readonly Child[], upstream: Upstream): string {
  const lines = [
    '# Rendered by the Outpost hub: do not edit.',
    'per_listener_settings false',
    `listener ${brokerPort}`,
    'allow_anonymous true',
    `acl_file ${CONFIG_DIR}/mosquitto.acl`,
    'persistence true',
    `persistence_location ${DATA_DIR}/`,
    'autosave_interval 1',
    'log_dest stdout',
    'max_queued_messages 1000000',
    'queue_qos0_messages true',
  ];
  const target = upstream.parent
    ? `${upstream.parent.address}:${upstream.parent.brokerPort}`
    : upstream.hubMqtt
      ? hostPort(upstream.hubMqtt)
      : undefined;
  if (target && children.length > 0) {
    lines.push(
      'connection upward',
      `address ${target}`,
      'cleansession false',
      'bridge_protocol_version mqttv311',
      'restart_timeout 1 5',
      'try_private true',
    );
    for (const child of children) {
      for (const kind of ['telemetry', 'status', 'acks'])
        lines.push(`topic devices/${child.name}/${kind}/# out 1`);
      lines.push(`topic devices/${child.name}/commands/# in 1`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** `mosquitto.acl`: each child (by user name) publishes under its own prefix and reads its commands. */
export function mosquittoAcl(children: readonly Child[]): string {
  const lines = ['# Rendered by the Outpost hub: do not edit.'];
  for (const child of children) {
    lines.push(
      `user ${child.name}`,
      `topic write devices/${child.name}/#`,
      `topic read devices/${child.name}/commands/#`,
    );
  }
  return `${lines.join('\n')}\n`;
}

function hostPort(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || '1883'}`;
}

/**
 * Renders a gateway: a Workload of a ConfigMap (the three files) and two
 * Deployments running Debian's `squid` and `mosquitto` as processes, and a
 * Placement of it on the gateway alone (by {@link GATEWAY_LABEL}), both in
 * `outpost-system`, named `gateway-<device>` and owned by the Device (so that
 * deleting the gateway deletes them). The ConfigMap's hash is in the pod
 * templates: a changed configuration restarts the processes with it.
 */
export function renderGateway(
  device: KubeObject,
  children: readonly Child[],
  upstream: Upstream,
  before?: RememberedAddresses,
): RenderedGateway {
  const name = gatewayObjectName(device.metadata.name!);
  const { proxyPort, brokerPort } = portsOf(device);
  const childNetworks = childNetworksOf(device);
  const admission = { childNetworks, revoked: revokedAddresses(before, children, childNetworks) };
  const admitted = [...new Set(children.flatMap((child) => child.addresses))].sort();
  const files = {
    'squid.conf': squidConfig(proxyPort, children, upstream, admission),
    'mosquitto.conf': mosquittoConfig(brokerPort, children, upstream),
    'mosquitto.acl': mosquittoAcl(children),
    'addresses.json': `${JSON.stringify({ admitted, revoked: admission.revoked })}\n`,
  };
  const configHash = `sha256:${createHash('sha256').update(JSON.stringify(files)).digest('hex')}`;
  const labels = { [GATEWAY_LABEL]: device.metadata.name! };
  const owner = controllerReference(device, false);
  const deployment = (
    app: string,
    port: number,
    command: string[],
    volumes: Array<{ name: string; mountPath: string }>,
  ) => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: app, labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app } },
      template: {
        metadata: { labels: { app }, annotations: { 'outpost.dev/config-hash': configHash } },
        spec: {
          terminationGracePeriodSeconds: 5,
          containers: [
            {
              name: app,
              // The process runtime runs the host's Debian package; the image is podman's.
              image: `docker.io/library/debian:bookworm`,
              command,
              volumeMounts: [{ name: 'config', mountPath: CONFIG_DIR, readOnly: true }, ...volumes],
              // Ready (and so reported healthy in the gateway's status) once it accepts connections.
              readinessProbe: { tcpSocket: { port }, periodSeconds: 2 },
            },
          ],
          volumes: [
            { name: 'config', configMap: { name: `${name}-config` } },
            ...volumes.map((volume) => ({ name: volume.name, emptyDir: {} })),
          ],
        },
      },
    },
  });
  const workload: KubeObject = {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Workload',
    metadata: { name, namespace: GATEWAY_NAMESPACE, labels, ownerReferences: [owner] },
    spec: {
      resources: [
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `${name}-config`, labels }, data: files },
        deployment(
          PROXY_NAME,
          proxyPort,
          ['/usr/sbin/squid', '-N', '-f', `${CONFIG_DIR}/squid.conf`],
          [{ name: 'data', mountPath: DATA_DIR }],
        ),
        deployment(
          BROKER_NAME,
          brokerPort,
          ['/usr/sbin/mosquitto', '-c', `${CONFIG_DIR}/mosquitto.conf`],
          [{ name: 'data', mountPath: DATA_DIR }],
        ),
      ],
    },
  };
  const placement: KubeObject = {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Placement',
    metadata: { name, namespace: GATEWAY_NAMESPACE, labels, ownerReferences: [owner] },
    spec: { workloadSelector: { names: [name] }, deviceSelector: { matchLabels: labels } },
  };
  return { workload, placement, configHash };
}
