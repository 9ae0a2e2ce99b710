import assert from 'node:assert/strict';
import { ECDH, generateKeyPairSync, type KeyObject, sign, X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { createCsr, generateKeyPem } from '../../agent/enrollment/index.ts';
import * as der from './der.ts';
import {
  createCertificateAuthority,
  createFastIssuer,
  InvalidCsrError,
  parseCsr,
  parseCsrFast,
} from './index.ts';

/** A PKCS#10 request for `spki`, signed with `privateKey` (whatever key the SPKI names). */
function csrWith(spki: Buffer, privateKey: KeyObject, commonName: string): string {
  const subject = der.sequence(der.set(der.sequence(der.oid('2.5.4.3'), der.utf8String(commonName))));
  const info = der.sequence(der.unsignedInteger(Buffer.from([0])), subject, spki, der.encode(0xa0));
  const request = der.sequence(
    info,
    der.sequence(der.oid('1.2.840.10045.4.3.2')),
    der.bitString(sign('sha256', info, privateKey)),
  );
  return `-----BEGIN CERTIFICATE REQUEST-----\n${request.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
}

const isMalformed = (e: unknown) => e instanceof InvalidCsrError && e.reason === 'malformed';

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

  it('accepts only an uncompressed P-256 point on the curve, in a request and in the issuer', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    const point = spki.subarray(spki.length - 65);
    // Control: the same hand-made request with the canonical key is accepted.
    assert.equal(parseCsrFast(csrWith(spki, privateKey, 'gw-1')).commonName, 'gw-1');

    const compressed = ECDH.convertKey(point, 'prime256v1', undefined, undefined, 'compressed') as Buffer;
    const algorithm = der.sequence(der.oid('1.2.840.10045.2.1'), der.oid('1.2.840.10045.3.1.7'));
    const compressedSpki = der.sequence(algorithm, der.bitString(compressed));
    assert.throws(() => parseCsrFast(csrWith(compressedSpki, privateKey, 'gw-1')), isMalformed);

    const offCurve = Buffer.from(spki);
    offCurve[offCurve.length - 1]! ^= 1;
    assert.throws(() => parseCsrFast(csrWith(offCurve, privateKey, 'gw-1')), isMalformed);

    const { ca } = await createCertificateAuthority();
    const issue = createFastIssuer(ca);
    const options = {
      commonName: 'outpost:device:gw-1',
      organizations: ['outpost:devices'],
      lifetimeSeconds: 3600,
      uris: [],
      now: new Date(),
    };
    const pemOf = (bytes: Buffer) =>
      `-----BEGIN PUBLIC KEY-----\n${bytes.toString('base64')}\n-----END PUBLIC KEY-----\n`;
    assert.ok(new X509Certificate(issue({ ...options, publicKey: pemOf(spki) })).publicKey);
    assert.throws(() => issue({ ...options, publicKey: pemOf(offCurve) }));
    assert.throws(() => issue({ ...options, publicKey: pemOf(compressedSpki) }));
  });
});
