import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { createCsr, generateKeyPem } from '../../agent/enrollment/index.ts';
import {
  createCertificateAuthority,
  createFastIssuer,
  InvalidCsrError,
  parseCsr,
  parseCsrFast,
} from './index.ts';

describe('enrollment fast path', () => {
  it('reads and verifies a CSR as parseCsr does', async () => {
    const csr = await createCsr(await generateKeyPem(), 'gw-1');
    const fast = parseCsrFast(csr);
    const slow = await parseCsr(csr);
    assert.equal(fast.commonName, 'outpost:device:gw-1');
    assert.deepEqual(fast.organizations, slow.organizations);
    assert.equal(fast.publicKey.replace(/\s/g, ''), slow.publicKey.replace(/\s/g, ''));
  });

  it('refuses a tampered signature and a document that is not a CSR', async () => {
    const csr = await createCsr(await generateKeyPem(), 'gw-1');
    const body = /-----BEGIN CERTIFICATE REQUEST-----([\s\S]*)-----END/.exec(csr)![1]!;
    const bytes = Buffer.from(body.replace(/\s/g, ''), 'base64');
    bytes[bytes.length - 3]! ^= 1;
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${bytes.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    assert.throws(
      () => parseCsrFast(tampered),
      (e: unknown) => e instanceof InvalidCsrError && e.reason === 'signature',
    );
    assert.throws(
      () => parseCsrFast('not a csr'),
      (e: unknown) => e instanceof InvalidCsrError && e.reason === 'malformed',
    );
  });

  it('issues a certificate that verifies against the CA with the asked subject, SAN, validity and key', async () => {
    const { ca } = await createCertificateAuthority();
    const keyPem = await generateKeyPem();
    const parsed = parseCsrFast(await createCsr(keyPem, 'gw-1'));
    const now = new Date('2030-01-01T00:00:00Z');
    const pem = createFastIssuer(ca)({
      commonName: 'outpost:device:gw-1',
      organizations: ['outpost:devices'],
      publicKey: parsed.publicKey,
      lifetimeSeconds: 3600,
      uris: ['urn:outpost:device-uid:1234'],
      now,
    });
    const cert = new X509Certificate(pem);
    assert.ok(cert.verify(new X509Certificate(ca.certPem).publicKey));
    assert.ok(cert.checkIssued(new X509Certificate(ca.certPem)));
    assert.match(cert.subject, /O=outpost:devices/);
    assert.match(cert.subject, /CN=outpost:device:gw-1/);
    assert.equal(cert.subjectAltName, 'URI:urn:outpost:device-uid:1234');
    assert.equal(new Date(cert.validTo).toISOString(), '2030-01-01T01:00:00.000Z');
    assert.equal(new Date(cert.validFrom).toISOString(), '2029-12-31T23:55:00.000Z');
    assert.ok(cert.checkPrivateKey((await import('node:crypto')).createPrivateKey(keyPem)));
    assert.equal(cert.ca, false);
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.2']);
  });
});
