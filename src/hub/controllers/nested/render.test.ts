import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from '../../../api/index.ts';
import {
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
    const first = renderGateway(gateway, children, upstream);
    const remembered = rememberedAddresses(first.workload);
    assert.deepEqual(remembered, { admitted: ['10.0.2.2', '10.0.2.3'], revoked: [] });
    const second = renderGateway(gateway, [children[0]!], upstream, remembered);
    const resources = (
      second.workload.spec as { resources: { kind: string; data?: Record<string, string> }[] }
    ).resources;
    const config = resources.find((r) => r.kind === 'ConfigMap')!.data!;
    assert.match(config['squid.conf'] ?? '', /^acl revoked src 10\.0\.2\.3$/m);
    assert.deepEqual(revokedAddresses(rememberedAddresses(second.workload), children, ['10.0.2.0/24']), []);
    // Without child networks only reported addresses get in: nothing to revoke.
    assert.deepEqual(revokedAddresses(remembered, [], []), []);
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
    // A top-level gateway without the hub's external broker has no upward bridge.
    assert.doesNotMatch(mosquittoConfig(1883, children, { hubUrl: upstream.hubUrl }), /^connection /m);
  });

  it('renders a Workload and Placement owned by the device, whose pods change with the configuration', () => {
    const first = renderGateway(site, children, upstream);
    assert.equal(first.workload.metadata.name, 'gateway-site');
    assert.equal(first.workload.metadata.namespace, 'outpost-system');
    assert.deepEqual(
      first.workload.metadata.ownerReferences?.map((ref) => ref.uid),
      ['u-site'],
    );
    assert.deepEqual((first.placement.spec as { deviceSelector: unknown }).deviceSelector, {
      matchLabels: { 'outpost.dev/gateway': 'site' },
    });
    const again = renderGateway(site, children, upstream);
    assert.deepEqual(again, first);
    const fewer = renderGateway(site, children.slice(0, 1), upstream);
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
});
