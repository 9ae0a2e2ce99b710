import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { createCertificateAuthority, type NewCertificateAuthority } from '../pki/index.ts';
import { createUserTokenVerifier, signUserToken } from './user-token.ts';

describe('user tokens', () => {
  let authority: NewCertificateAuthority;
  let other: NewCertificateAuthority;
  const now = Date.parse('2026-12-07T12:00:00Z');
  const iat = now / 1000;

  before(async () => {
    [authority, other] = await Promise.all([createCertificateAuthority(), createCertificateAuthority()]);
  });

  it("names the token's user and groups while it is valid, and no one once it expires", () => {
    let clock = now;
    const verify = createUserTokenVerifier(authority.ca.certPem, () => clock);
    const token = signUserToken({ sub: 'dana', groups: ['team-a'], iat, exp: iat + 3600 }, authority.keyPem);
    assert.deepEqual(verify(token), { user: 'dana', groups: ['team-a'] });
    clock = now + 3599_000;
    assert.deepEqual(verify(token), { user: 'dana', groups: ['team-a'] });
    clock = now + 3600_000;
    assert.equal(verify(token), undefined);
  });

  it('refuses a token signed by another CA, or with claims changed after signing', () => {
    const verify = createUserTokenVerifier(authority.ca.certPem, () => now);
    const foreign = signUserToken({ sub: 'dana', groups: [], iat, exp: iat + 3600 }, other.keyPem);
    assert.equal(verify(foreign), undefined);
    const token = signUserToken({ sub: 'dana', groups: [], iat, exp: iat + 3600 }, authority.keyPem);
    const [prefix, , signature] = token.split('.');
    const claims = Buffer.from(
      JSON.stringify({ sub: 'dana', groups: ['system:masters'], iat, exp: iat + 3600 }),
    );
    assert.equal(verify(`${prefix}.${claims.toString('base64url')}.${signature}`), undefined);
    assert.equal(verify('outpost1.garbage'), undefined);
  });

  it('refuses a token that claims a device identity, even when signed', () => {
    const verify = createUserTokenVerifier(authority.ca.certPem, () => now);
    for (const claims of [
      { sub: 'outpost:device:gw-1', groups: [] },
      { sub: 'mallory', groups: ['outpost:devices'] },
    ])
      assert.equal(verify(signUserToken({ ...claims, iat, exp: iat + 3600 }, authority.keyPem)), undefined);
  });
});
