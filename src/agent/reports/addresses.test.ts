import assert from 'node:assert/strict';
import type { NetworkInterfaceInfo } from 'node:os';
import { describe, it } from 'node:test';
import { hostAddresses } from './addresses.ts';

const info = (address: string, family: 'IPv4' | 'IPv6', internal = false) =>
  ({ address, family, internal, netmask: '', mac: '', cidr: null }) as unknown as NetworkInterfaceInfo;

describe('hostAddresses', () => {
  it('reports the addresses other machines see, sorted, without loopback or link-local ones', () => {
    const addresses = hostAddresses({
      lo: [info('127.0.0.1', 'IPv4', true), info('::1', 'IPv6', true)],
      eth1: [info('10.0.3.2', 'IPv4'), info('fe80::1', 'IPv6'), info('fd00::2', 'IPv6')],
      eth0: [info('10.0.2.2', 'IPv4')],
    });
    assert.deepEqual(addresses, ['10.0.2.2', '10.0.3.2', 'fd00::2']);
  });
});
