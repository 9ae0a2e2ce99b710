import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import type { KubeObject } from '../../../api/index.ts';
import { createCertificateAuthority } from '../../pki/index.ts';
import { renderGateway } from './render.ts';
import { gatewayTls } from './tls.ts';

const device = (address: string): KubeObject => ({
  apiVersion: 'outpost.dev/v1alpha1',
  kind: 'Device',
  metadata: { name: 'site', uid: 'u-site' },
  spec: { level: 3, gateway: { address } },
});
const children = [{ name: 'area-1', addresses: [] }];

describe("a gateway broker's certificates", () => {
  it('are issued by the hub CA for the address and kept while they fit', async () => {
    const { ca } = await createCertificateAuthority();
    const first = await gatewayTls(ca, device('10.0.3.1'), undefined);
    const server = new X509Certificate(first.server.certPem);
    assert.ok(server.verify(new X509Certificate(ca.certPem).publicKey));
    assert.ok(server.checkIP('10.0.3.1'));
    assert.ok(server.checkPrivateKey(createPrivateKey(first.server.keyPem)));
    assert.equal(new X509Certificate(first.bridge.certPem).subject, 'CN=outpost:gateway:site');
    assert.equal(first.caPem, ca.certPem);

    // Read back from the rendered Workload: the same files, so nothing is rewritten or restarted.
    const live = renderGateway(device('10.0.3.1'), children, {}, first).workload;
    assert.deepEqual(await gatewayTls(ca, device('10.0.3.1'), live), first);

    // A new address: a new serving certificate for the same key; the bridge's stays.
    const moved = await gatewayTls(ca, device('gw.example'), live);
    assert.notEqual(moved.server.certPem, first.server.certPem);
    assert.equal(moved.server.keyPem, first.server.keyPem);
    assert.equal(new X509Certificate(moved.server.certPem).checkHost('gw.example'), 'gw.example');
    assert.deepEqual(moved.bridge, first.bridge);

    // Another CA (the hub's was replaced): everything is issued again.
    const other = (await createCertificateAuthority()).ca;
    const reissued = await gatewayTls(other, device('10.0.3.1'), live);
    assert.notEqual(reissued.bridge.certPem, first.bridge.certPem);
  });

  it('are renewed 30 days before they expire', async () => {
    const { ca } = await createCertificateAuthority();
    const first = await gatewayTls(ca, device('10.0.3.1'), undefined);
    const live = renderGateway(device('10.0.3.1'), children, {}, first).workload;
    const later = new Date(Date.now() + 340 * 24 * 3600 * 1000);
    const renewed = await gatewayTls(ca, device('10.0.3.1'), live, later);
    assert.notEqual(renewed.server.certPem, first.server.certPem);
    assert.notEqual(renewed.bridge.certPem, first.bridge.certPem);
  });
});
