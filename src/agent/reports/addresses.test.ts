import assert from 'node:assert/strict';
import type { NetworkInterfaceInfo } from 'node:os';
import { describe, it } from 'node:test';
import { HostAddresses } from './addresses.ts';

const info = (address: string, family: 'IPv4' | 'IPv6', internal = false) =>
  ({ address, family, internal, netmask: '', mac: '', cidr: null }) as unknown as NetworkInterfaceInfo;

describe('HostAddresses', () => {
  it('reports the addresses other machines see, sorted, without loopback or link-local ones', () => {
    const addresses = new HostAddresses(() => new Set()).read({
      lo: [info('127.0.0.1', 'IPv4', true), info('::1', 'IPv6', true)],
      eth1: [info('10.0.3.2', 'IPv4'), info('fe80::1', 'IPv6'), info('fd00::2', 'IPv6')],
      eth0: [info('10.0.2.2', 'IPv4')],
    });
    assert.deepEqual(addresses, ['10.0.2.2', '10.0.3.2', 'fd00::2']);
  });

  it("keeps an interface's addresses while its link is down, and drops them once it is removed", () => {
    const existing = new Set(['eth0', 'up0']);
    const addresses = new HostAddresses(() => existing);
    assert.deepEqual(
      addresses.read({ eth0: [info('10.0.2.2', 'IPv4')], down0: [info('10.9.0.1', 'IPv4')] }),
      ['10.0.2.2', '10.9.0.1'],
    );
    // The uplink's link is cut: Node no longer lists it, but the interface (and its address) is there.
    existing.add('down0');
    assert.deepEqual(addresses.read({ eth0: [info('10.0.2.2', 'IPv4')] }), ['10.0.2.2', '10.9.0.1']);
    // The interface is deleted.
    existing.delete('down0');
    assert.deepEqual(addresses.read({ eth0: [info('10.0.2.2', 'IPv4')] }), ['10.0.2.2']);
  });
});
