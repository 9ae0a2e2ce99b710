import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from '../../../api/index.ts';
import {
  mosquittoAcl,
  mosquittoConfig,
  rememberedAddresses,
  renderGateway,
  revokedAddresses,
  squidConfig,
} from './render.ts';

const children = [
  { name: 'area-1', addresses: ['10.0.2.2'] },
  { name: 'area-2', addresses: ['10.0.2.3', '10.0.2.2'] },
];
const site: KubeObject = {
  apiVersion: 'outpost.dev/v1alpha1',
  kind: 'Device',
  metadata: { name: 'site', uid: 'u-site' },
  spec: { level: 3, parent: 'enterprise', gateway: { address: '10.0.2.1', proxyPort: 8080 } },
};
const tls = {
  caPem: 'CA\n',
  server: { certPem: 'SERVER\n', keyPem: 'SERVER KEY\n' },
  bridge: { certPem: 'BRIDGE\n', keyPem: 'BRIDGE KEY\n' },
};
const upstream = {
  hubUrl: 'https://hub.example:6443',
  parent: { address: '10.0.3.1', proxyPort: 3128, brokerPort: 1883 },
};

describe('gateway rendering', () => {
  it('lets the child networks CONNECT too, and refuses revoked addresses before any allow', () => {
    const text = squidConfig(8080, children, upstream, {
      childNetworks: ['10.0.2.0/24'],
      revoked: ['10.0.2.9'],
    });
    assert.match(
      text,
      /^acl revoked src 10\.0\.2\.9\nhttp_access deny revoked\nacl children src 10\.0\.2\.2 10\.0\.2\.3\nhttp_access allow CONNECT children upstream upstream_port\nacl child_networks src 10\.0\.2\.0\/24\nhttp_access allow CONNECT child_networks upstream upstream_port\nhttp_access deny all$/m,
    );
  });

  it("remembers a child's addresses once it is gone, and forgets them when a child reports them again", () => {
    const gateway = {
      ...site,
      spec: { ...(site.spec as object), gateway: { childNetworks: ['10.0.2.0/24'] } },
    };
    const first = renderGateway(gateway, children, upstream, tls);
    const remembered = rememberedAddresses(first.workload);
    assert.deepEqual(remembered, { admitted: ['10.0.2.2', '10.0.2.3'], revoked: [] });
    const second = renderGateway(gateway, [children[0]!], upstream, tls, remembered);
    const resources = (
      second.workload.spec as { resources: { kind: string; data?: Record<string, string> }[] }
    ).resources;
    const config = resources.find((r) => r.kind === 'ConfigMap')!.data!;
    assert.match(config['squid.conf'] ?? '', /^acl revoked src 10\.0\.2\.3$/m);
    assert.deepEqual(revokedAddresses(rememberedAddresses(second.workload), children, ['10.0.2.0/24']), []);
    // Without child networks only reported addresses get in: nothing to revoke.
    assert.deepEqual(revokedAddresses(remembered, [], []), []);
  });

  it('admits a moving child at the proxy only, not revoked inside a child network, and not at the broker', () => {
    const gateway = {
      ...site,
      spec: { ...(site.spec as object), gateway: { childNetworks: ['10.0.2.0/24'] } },
    };
    const remembered = rememberedAddresses(renderGateway(gateway, children, upstream, tls).workload);
    // area-2 moved to another parent; its agent still uses this proxy.
    const moving = renderGateway(gateway, [children[0]!], upstream, tls, remembered, [children[1]!]);
    const config = (
      moving.workload.spec as { resources: { kind: string; data?: Record<string, string> }[] }
    ).resources.find((r) => r.kind === 'ConfigMap')!.data!;
    assert.match(config['squid.conf'] ?? '', /^acl children src 10\.0\.2\.2 10\.0\.2\.3$/m);
    assert.doesNotMatch(config['squid.conf'] ?? '', /acl revoked/);
    assert.doesNotMatch(config['mosquitto.acl'] ?? '', /area-2/);
    assert.doesNotMatch(config['mosquitto.conf'] ?? '', /area-2/);
  });

  it("lets the children's addresses CONNECT to the hub only, through the parent's proxy", () => {
    const text = squidConfig(8080, children, upstream);
    assert.match(text, /^http_port 8080$/m);
    assert.match(text, /^acl children src 10\.0\.2\.2 10\.0\.2\.3$/m);
    assert.match(text, /^acl upstream dstdomain hub\.example$/m);
    assert.match(text, /^acl upstream_port port 6443$/m);
    assert.match(text, /^http_access allow CONNECT children upstream upstream_port\nhttp_access deny all$/m);
    assert.match(
      text,
      /^cache_peer 10\.0\.3\.1 parent 3128 0 no-query no-digest default\nnever_direct allow all$/m,
    );
  });

  it('allows nothing while no child has reported an address or the hub URL is unknown', () => {
    for (const text of [
      squidConfig(3128, [{ name: 'area-1', addresses: [] }], upstream),
      squidConfig(3128, children, { hubUrl: undefined }),
    ]) {
      assert.doesNotMatch(text, /http_access allow/);
      assert.match(text, /^http_access deny all$/m);
    }
  });

  it("bridges each child's upward topics out and its commands in, and nothing else", () => {
    const text = mosquittoConfig(1883, children, upstream);
    assert.match(text, /^address 10\.0\.3\.1:1883$/m);
    const topics = text.split('\n').filter((line) => line.startsWith('topic '));
    assert.deepEqual(topics, [
      'topic devices/area-1/telemetry/# out 1',
      'topic devices/area-1/status/# out 1',
      'topic devices/area-1/acks/# out 1',
      'topic devices/area-1/commands/# in 1',
      'topic devices/area-2/telemetry/# out 1',
      'topic devices/area-2/status/# out 1',
      'topic devices/area-2/acks/# out 1',
      'topic devices/area-2/commands/# in 1',
    ]);
    // To a parent gateway over TLS, with the bridge certificate.
    assert.match(text, /^bridge_certfile \/etc\/outpost-gateway-tls\/bridge\.crt$/m);
    // A top-level gateway without the hub's external broker has no upward bridge.
    assert.doesNotMatch(mosquittoConfig(1883, children, { hubUrl: upstream.hubUrl }), /^connection /m);
  });

  it('renders a Workload and Placement owned by the device, whose pods change with the configuration', () => {
    const first = renderGateway(site, children, upstream, tls);
    assert.equal(first.workload.metadata.name, 'gateway-site');
    assert.equal(first.workload.metadata.namespace, 'outpost-system');
    assert.deepEqual(
      first.workload.metadata.ownerReferences?.map((ref) => ref.uid),
      ['u-site'],
    );
    assert.deepEqual((first.placement.spec as { deviceSelector: unknown }).deviceSelector, {
      matchLabels: { 'outpost.dev/gateway': 'site' },
    });
    const again = renderGateway(site, children, upstream, tls);
    assert.deepEqual(again, first);
    const fewer = renderGateway(site, children.slice(0, 1), upstream, tls);
    assert.notEqual(fewer.configHash, first.configHash);
    const annotations = (rendered: typeof first) =>
      (
        rendered.workload.spec as {
          resources: Array<{ kind: string; spec?: { template: { metadata: { annotations: object } } } }>;
        }
      ).resources
        .filter((r) => r.kind === 'Deployment')
        .map((r) => r.spec!.template.metadata.annotations);
    assert.deepEqual(annotations(fewer), [
      { 'outpost.dev/config-hash': fewer.configHash },
      { 'outpost.dev/config-hash': fewer.configHash },
    ]);
  });

  it('accepts only certificates from the hub CA on its listener, each client named by its CN', () => {
    const text = mosquittoConfig(8883, children, upstream);
    for (const line of [
      'listener 8883',
      'allow_anonymous false',
      'cafile /etc/outpost-gateway-tls/ca.crt',
      'require_certificate true',
      'use_identity_as_username true',
    ])
      assert.ok(text.split('\n').includes(line), `${line} in\n${text}`);
    // The hub's external broker (a top-level gateway's bridge) is reached as given: no client certificate.
    assert.doesNotMatch(
      mosquittoConfig(8883, children, { hubMqtt: 'mqtt://127.0.0.1:1883' }),
      /^bridge_certfile/m,
    );
  });

  it("bridges a top-level gateway to the hub's MQTT-over-TLS listener with its bridge certificate", () => {
    const text = mosquittoConfig(8883, children, {
      hubMqtt: 'mqtt://127.0.0.1:1883',
      hubMqttTls: 'mqtts://10.1.2.1:40123',
    });
    const lines = text.split('\n');
    // Preferred to the external broker: the hub checks each device's topics there.
    for (const line of [
      'address 10.1.2.1:40123',
      'bridge_cafile /etc/outpost-gateway-tls/ca.crt',
      'bridge_certfile /etc/outpost-gateway-tls/bridge.crt',
      'bridge_keyfile /etc/outpost-gateway-tls/bridge.key',
      // Its state notifications would be `$SYS` publishes, which the hub's broker answers by disconnecting.
      'notifications false',
    ])
      assert.ok(lines.includes(line), `${line} in\n${text}`);
    assert.ok(!lines.includes('address 127.0.0.1:1883'));
  });

  it("bridges every device below a child gateway, and lets that gateway's bridge carry them only", () => {
    const nested = [{ name: 'area-1', addresses: [], below: ['cell-2', 'cell-1'] }];
    const topics = mosquittoConfig(1883, nested, upstream)
      .split('\n')
      .filter((line) => line.startsWith('topic ') && line.endsWith(' in 1'));
    assert.deepEqual(topics, [
      'topic devices/area-1/commands/# in 1',
      'topic devices/cell-1/commands/# in 1',
      'topic devices/cell-2/commands/# in 1',
    ]);
    const acl = mosquittoAcl(nested);
    assert.match(
      acl,
      /^user outpost:device:area-1\ntopic write devices\/area-1\/telemetry\/#\ntopic write devices\/area-1\/status\/#\ntopic write devices\/area-1\/acks\/#\ntopic read devices\/area-1\/commands\/#$/m,
    );
    assert.match(acl, /^user outpost:gateway:area-1\ntopic write devices\/cell-1\/telemetry\/#$/m);
    assert.doesNotMatch(acl.split('user outpost:gateway:area-1')[1]!, /devices\/area-1\//);
  });

  it('carries the TLS files in a Secret mounted by the broker; a new certificate restarts it', () => {
    const rendered = renderGateway(site, children, upstream, tls);
    type Resource = {
      kind: string;
      metadata: { name: string };
      data?: Record<string, string>;
      spec?: { template: { spec: { volumes: unknown[] } } };
    };
    const resources = (rendered.workload.spec as { resources: Resource[] }).resources;
    const secret = resources.find((r) => r.kind === 'Secret')!;
    assert.equal(secret.metadata.name, 'gateway-site-tls');
    assert.equal(Buffer.from(secret.data!['tls.key']!, 'base64').toString(), 'SERVER KEY\n');
    const broker = resources.find((r) => r.kind === 'Deployment' && r.metadata.name === 'mosquitto')!;
    assert.deepEqual(broker.spec!.template.spec.volumes[1], {
      name: 'tls',
      secret: { secretName: 'gateway-site-tls' },
    });
    const renewed = renderGateway(site, children, upstream, {
      ...tls,
      server: { ...tls.server, certPem: 'NEW\n' },
    });
    assert.notEqual(renewed.configHash, rendered.configHash);
  });
});
