import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { type Device, gatewayPorts, type KubeObject } from '../../../api/index.ts';
import { deviceUser, GATEWAY_BRIDGE_USER_PREFIX } from '../../auth/index.ts';
import { controllerReference } from '../support.ts';

/** The namespace of every gateway's rendered Workload and Placement. */
export const GATEWAY_NAMESPACE = 'outpost-system';
/** The label the renderer sets on a gateway Device (its own name): its Placement selects it. */
export const GATEWAY_LABEL = 'outpost.dev/gateway';
/** Where the rendered processes find their configuration on the gateway. */
export const CONFIG_DIR = '/etc/outpost-gateway';
/** Each process's own folder (an emptyDir, kept across restarts): Mosquitto's queue, Squid's logs. */
export const DATA_DIR = '/var/lib/outpost-gateway';
/** Where Mosquitto finds the hub CA and its certificates (a Secret volume). */
export const TLS_DIR = '/etc/outpost-gateway-tls';
/** The Deployments' names on the gateway (also how their health is found in its Mailbox status). */
export const PROXY_NAME = 'squid';
export const BROKER_NAME = 'mosquitto';

/** Where the level above a gateway is: the hub's API, and the broker its bridge goes to. */
export interface Upstream {
  /** The hub's API (`https://HOST:PORT`): the only CONNECT target the proxies allow. */
  readonly hubUrl?: string | undefined;
  /**
   * For a gateway with a parent: that parent's proxy and broker. For a top-level gateway the
   * proxy goes direct and the bridge goes to `hubMqttTls`, else `hubMqtt`.
   */
  readonly parent?: { readonly address: string; readonly proxyPort: number; readonly brokerPort: number };
  /** The hub's external MQTT broker (`mqtt://HOST:PORT`, `outpost hub --mqtt`), for top-level bridges. */
  readonly hubMqtt?: string | undefined;
  /**
   * The hub's own broker over TLS (`mqtts://HOST:PORT`, `outpost hub --mqtt-tls-port`), where a
   * top-level bridge goes with its bridge certificate, the hub checking each device's topics.
   */
  readonly hubMqttTls?: string | undefined;
}

/** One child as the configuration names it. */
export interface Child {
  readonly name: string;
  /** The addresses its agent reported (`status.system.addresses`): the proxy accepts these only. */
  readonly addresses: readonly string[];
  /**
   * For a child that is a gateway itself: every device below it (its children, theirs...), whose
   * topics its bridge carries. @default none
   */
  readonly below?: readonly string[];
}

/** The TLS material of a gateway's broker (rendered as a Secret; see tls.ts). */
export interface GatewayTls {
  /** The hub CA: children's and bridges' certificates are checked against it. */
  readonly caPem: string;
  /** The listener's serving certificate (serverAuth, the gateway's address). */
  readonly server: { readonly certPem: string; readonly keyPem: string };
  /** The bridge's client certificate (clientAuth, CN `outpost:gateway:<name>`). */
  readonly bridge: { readonly certPem: string; readonly keyPem: string };
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

/** The name of the Secret holding a gateway broker's certificates, inside its Workload. */
export function tlsSecretName(device: string): string {
  return `${gatewayObjectName(device)}-tls`;
}

/** The name of a gateway's Workload and Placement. */
export function gatewayObjectName(device: string): string {
  return `gateway-${device}`;
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

/** Every device whose topics pass through a gateway: its children and all below them, sorted. */
export function devicesBelow(children: readonly Child[]): string[] {
  return [...new Set(children.flatMap((child) => [child.name, ...(child.below ?? [])]))].sort();
}

/**
 * `mosquitto.conf`: a TLS listener for the children that accepts only
 * certificates from the hub CA, each client named by its certificate's CN
 * (`mosquitto.acl` then lets each name only its own topics); its queue on
 * disk; and a bridge to the level above carrying the upward topics of every
 * device below it out and their commands in, and nothing else. The bridge to
 * a parent gateway, or to the hub's MQTT-over-TLS listener, goes over TLS with
 * the bridge certificate; to the hub's external broker (`--mqtt`, only without
 * that listener) as that broker is reached.
 */
export function mosquittoConfig(brokerPort: number, children: readonly Child[], upstream: Upstream): string {
  const lines = [
    '# Rendered by the Outpost hub: do not edit.',
    'per_listener_settings false',
    'allow_anonymous false',
    `acl_file ${CONFIG_DIR}/mosquitto.acl`,
    `listener ${brokerPort}`,
    `cafile ${TLS_DIR}/ca.crt`,
    `certfile ${TLS_DIR}/tls.crt`,
    `keyfile ${TLS_DIR}/tls.key`,
    'require_certificate true',
    'use_identity_as_username true',
    'persistence true',
    `persistence_location ${DATA_DIR}/`,
    'autosave_interval 1',
    'log_dest stdout',
    'max_queued_messages 1000000',
    'queue_qos0_messages true',
  ];
  const target = upstream.parent
    ? `${upstream.parent.address}:${upstream.parent.brokerPort}`
    : upstream.hubMqttTls
      ? hostPort(upstream.hubMqttTls)
      : upstream.hubMqtt
        ? hostPort(upstream.hubMqtt)
        : undefined;
  const overTls = upstream.parent !== undefined || upstream.hubMqttTls !== undefined;
  if (target && children.length > 0) {
    lines.push(
      'connection upward',
      `address ${target}`,
      'cleansession false',
      'bridge_protocol_version mqttv311',
      'restart_timeout 1 5',
      'try_private true',
      // No `$SYS/broker/connection/.../state` publishes upward: the hub's broker takes `$SYS` from no
      // client (and closes a connection that tries), a parent's ACL has no room for them either.
      'notifications false',
    );
    if (overTls)
      lines.push(
        `bridge_cafile ${TLS_DIR}/ca.crt`,
        `bridge_certfile ${TLS_DIR}/bridge.crt`,
        `bridge_keyfile ${TLS_DIR}/bridge.key`,
      );
    for (const device of devicesBelow(children)) {
      for (const kind of ['telemetry', 'status', 'acks'])
        lines.push(`topic devices/${device}/${kind}/# out 1`);
      lines.push(`topic devices/${device}/commands/# in 1`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/**
 * `mosquitto.acl`: each child's agent (user = its device certificate's CN, `outpost:device:<name>`) publishes
 * its own values, status and acks and reads its own commands; a child that is
 * a gateway itself has its bridge (`outpost:gateway:<name>`, the CN of the bridge certificate tls.ts issues) do the
 * same for every device below it. Nobody else may do anything.
 */
export function mosquittoAcl(children: readonly Child[]): string {
  const lines = ['# Rendered by the Outpost hub: do not edit.'];
  const grant = (device: string) => [
    ...['telemetry', 'status', 'acks'].map((kind) => `topic write devices/${device}/${kind}/#`),
    `topic read devices/${device}/commands/#`,
  ];
  for (const child of children) {
    lines.push(`user ${deviceUser(child.name)}`, ...grant(child.name));
    if (child.below && child.below.length > 0)
      lines.push(
        `user ${GATEWAY_BRIDGE_USER_PREFIX}${child.name}`,
        ...[...child.below].sort().flatMap(grant),
      );
  }
  return `${lines.join('\n')}\n`;
}

function hostPort(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || (parsed.protocol === 'mqtts:' ? '8883' : '1883')}`;
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
  tls: GatewayTls,
  before?: RememberedAddresses,
  moving: readonly Child[] = [],
): RenderedGateway {
  const name = gatewayObjectName(device.metadata.name!);
  const { proxyPort, brokerPort } = gatewayPorts(device.spec as Device['spec']);
  const childNetworks = childNetworksOf(device);
  // Moving children (see the reconciler) reach the hub through the proxy still; the broker is their new parent's.
  const proxied = [...children, ...moving];
  const admission = { childNetworks, revoked: revokedAddresses(before, proxied, childNetworks) };
  const admitted = [...new Set(proxied.flatMap((child) => child.addresses))].sort();
  const files = {
    'squid.conf': squidConfig(proxyPort, proxied, upstream, admission),
    'mosquitto.conf': mosquittoConfig(brokerPort, children, upstream),
    'mosquitto.acl': mosquittoAcl(children),
    'addresses.json': `${JSON.stringify({ admitted, revoked: admission.revoked })}\n`,
  };
  const tlsFiles = {
    'ca.crt': tls.caPem,
    'tls.crt': tls.server.certPem,
    'tls.key': tls.server.keyPem,
    'bridge.crt': tls.bridge.certPem,
    'bridge.key': tls.bridge.keyPem,
  };
  // A new certificate restarts the broker too (with the key in the hash: it never leaves the Workload).
  const configHash = `sha256:${createHash('sha256')
    .update(JSON.stringify([files, tlsFiles]))
    .digest('hex')}`;
  const labels = { [GATEWAY_LABEL]: device.metadata.name! };
  const owner = controllerReference(device, false);
  const deployment = (
    app: string,
    port: number,
    command: string[],
    volumes: Array<{ name: string; mountPath: string }>,
    secret?: { name: string; mountPath: string; secretName: string },
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
              volumeMounts: [
                { name: 'config', mountPath: CONFIG_DIR, readOnly: true },
                ...(secret ? [{ name: secret.name, mountPath: secret.mountPath, readOnly: true }] : []),
                ...volumes,
              ],
              // Ready (and so reported healthy in the gateway's status) once it accepts connections.
              readinessProbe: { tcpSocket: { port }, periodSeconds: 2 },
            },
          ],
          volumes: [
            { name: 'config', configMap: { name: `${name}-config` } },
            ...(secret ? [{ name: secret.name, secret: { secretName: secret.secretName } }] : []),
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
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: tlsSecretName(device.metadata.name!), labels },
          type: 'Opaque',
          // Base64, not stringData: nothing in it is ever taken for a `${device...}` parameter.
          data: Object.fromEntries(
            Object.entries(tlsFiles).map(([key, text]) => [
              key,
              Buffer.from(text, 'utf8').toString('base64'),
            ]),
          ),
        },
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
          { name: 'tls', mountPath: TLS_DIR, secretName: tlsSecretName(device.metadata.name!) },
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
