import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readdir, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { createServer, request, type Server, type ServerOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { generateKeyPair, x509 } from './crypto.ts';
import {
  type HubPki,
  InvalidCsrError,
  InvalidKubeconfigOptionsError,
  InvalidPublicKeyError,
  issueCertificate,
  loadOrCreatePki,
  type PeerIdentity,
  PkiStateError,
  parseCsr,
  peerIdentity,
  writeKubeconfig,
} from './index.ts';

const execFileAsync = promisify(execFile);
const temporaryDirs: string[] = [];

async function temporaryDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'outpost-pki-'));
  temporaryDirs.push(dir);
  return dir;
}

after(async () => {
  await Promise.all(temporaryDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function fileMode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

interface SeenRequest {
  readonly authorized: boolean;
  readonly identity: PeerIdentity | undefined;
}

/** An https server on a free port answering `ok`, recording what it saw of each client. */
async function startServer(
  options: ServerOptions,
): Promise<{ server: Server; port: number; seen: SeenRequest[] }> {
  const seen: SeenRequest[] = [];
  const server = createServer(options, (request, response) => {
    const socket = request.socket as TLSSocket;
    seen.push({ authorized: socket.authorized, identity: peerIdentity(socket.getPeerCertificate()) });
    response.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, seen };
}

async function stopServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

async function get(port: string | number, tls: { ca: string; cert?: string; key?: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false, ...tls }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        body += chunk;
      });
      response.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('loadOrCreatePki', () => {
  let dataDir: string;
  let pki: HubPki;

  before(async () => {
    dataDir = await temporaryDir();
    pki = await loadOrCreatePki(dataDir, { hosts: ['hub.example.com', '10.1.2.3', 'fd00::10'] });
  });

  test('writes keys readable only by the owner in a private folder', async () => {
    assert.equal(await fileMode(pki.dir), 0o700);
    for (const key of ['ca.key', 'server.key', 'admin.key']) {
      assert.equal(await fileMode(join(pki.dir, key)), 0o600, key);
    }
    for (const cert of ['ca.crt', 'server.crt', 'admin.crt']) {
      assert.equal(await fileMode(join(pki.dir, cert)), 0o644, cert);
    }
    assert.match(pki.serverKey, /^-----BEGIN PRIVATE KEY-----/);
    assert.match(pki.adminKey, /^-----BEGIN PRIVATE KEY-----/);
  });

  test('creates a self-signed ten-year CA named outpost-ca', () => {
    const ca = new X509Certificate(pki.caCert);
    assert.equal(ca.subject, 'CN=outpost-ca');
    assert.equal(ca.ca, true);
    assert.ok(ca.verify(ca.publicKey));
    const years = (Date.parse(ca.validTo) - Date.parse(ca.validFrom)) / (365 * 24 * 3600 * 1000);
    assert.ok(years >= 10 && years < 10.01, `CA lifetime ${years} years`);
  });

  test('issues a serving certificate for the requested hosts and the local names', () => {
    const server = new X509Certificate(pki.serverCert);
    assert.ok(server.verify(new X509Certificate(pki.caCert).publicKey));
    assert.equal(server.ca, false);
    for (const name of ['hub.example.com', 'localhost', hostname().toLowerCase()]) {
      assert.equal(server.checkHost(name, { wildcards: false }), name);
    }
    for (const ip of ['10.1.2.3', 'fd00::10', '127.0.0.1', '::1']) assert.ok(server.checkIP(ip), ip);
    assert.equal(server.checkHost('other.example.com'), undefined);
  });

  test('issues an admin client certificate for outpost-admin in system:masters', () => {
    const admin = new X509Certificate(pki.adminCert);
    assert.ok(admin.verify(new X509Certificate(pki.caCert).publicKey));
    assert.deepEqual(
      admin.toLegacyObject().subject,
      Object.assign(Object.create(null), {
        O: 'system:masters',
        CN: 'outpost-admin',
      }),
    );
  });

  test('reuses the CA and every certificate on a later call', async () => {
    const again = await loadOrCreatePki(dataDir, { hosts: ['hub.example.com', '10.1.2.3'] });
    assert.equal(again.caCert, pki.caCert);
    assert.equal(again.serverCert, pki.serverCert);
    assert.equal(again.serverKey, pki.serverKey);
    assert.equal(again.adminCert, pki.adminCert);
  });

  test('re-issues only the serving certificate, with the same CA, when a new host is requested', async () => {
    const dir = await temporaryDir();
    const first = await loadOrCreatePki(dir, { hosts: ['hub.example.com'] });
    const second = await loadOrCreatePki(dir, { hosts: ['hub.example.com', '192.168.7.1'] });
    assert.equal(second.caCert, first.caCert);
    assert.equal(second.adminCert, first.adminCert);
    assert.notEqual(second.serverCert, first.serverCert);
    const server = new X509Certificate(second.serverCert);
    assert.ok(server.checkIP('192.168.7.1'));
    assert.ok(server.verify(new X509Certificate(first.caCert).publicKey));
  });

  test('renews the serving and admin certificates, keeping CA and keys, within 30 days of expiry', async () => {
    const dir = await temporaryDir();
    const first = await loadOrCreatePki(dir, { hosts: [] });
    const later = new Date(Date.now() + 340 * 24 * 3600 * 1000);
    const renewed = await loadOrCreatePki(dir, { hosts: [], now: later });
    assert.equal(renewed.caCert, first.caCert);
    assert.equal(renewed.serverKey, first.serverKey);
    assert.notEqual(renewed.serverCert, first.serverCert);
    assert.notEqual(renewed.adminCert, first.adminCert);
    assert.ok(
      Date.parse(new X509Certificate(renewed.adminCert).validTo) > later.getTime() + 300 * 24 * 3600 * 1000,
    );
  });

  test('refuses to replace a CA certificate whose key is missing', async () => {
    const dir = await temporaryDir();
    await loadOrCreatePki(dir, { hosts: [] });
    await unlink(join(dir, 'pki', 'ca.key'));
    await assert.rejects(loadOrCreatePki(dir, { hosts: [] }), PkiStateError);
  });

  test('rejects a host that is neither an IP address nor a DNS name', async () => {
    await assert.rejects(loadOrCreatePki(await temporaryDir(), { hosts: ['not a host'] }), RangeError);
  });
});

describe('client certificates over TLS', () => {
  let pki: HubPki;
  let foreign: HubPki;
  let running: Awaited<ReturnType<typeof startServer>>;

  before(async () => {
    pki = await loadOrCreatePki(await temporaryDir(), { hosts: [] });
    foreign = await loadOrCreatePki(await temporaryDir(), { hosts: [] });
    running = await startServer({
      cert: pki.serverCert,
      key: pki.serverKey,
      ca: pki.caCert,
      requestCert: true,
      rejectUnauthorized: false,
    });
  });

  after(async () => {
    await stopServer(running.server);
  });

  test('the server sees the admin certificate as authorized, user outpost-admin in system:masters', async () => {
    assert.equal(await get(running.port, { ca: pki.caCert, cert: pki.adminCert, key: pki.adminKey }), 'ok');
    assert.deepEqual(running.seen.at(-1), {
      authorized: true,
      identity: { user: 'outpost-admin', groups: ['system:masters'] },
    });
  });

  test('the server sees a certificate from another CA as unauthorized', async () => {
    assert.equal(
      await get(running.port, { ca: pki.caCert, cert: foreign.adminCert, key: foreign.adminKey }),
      'ok',
    );
    assert.equal(running.seen.at(-1)?.authorized, false);
  });

  test('the server sees a client without a certificate as unauthorized and without identity', async () => {
    assert.equal(await get(running.port, { ca: pki.caCert }), 'ok');
    assert.deepEqual(running.seen.at(-1), { authorized: false, identity: undefined });
  });
});

describe('issueCertificate', () => {
  let pki: HubPki;

  before(async () => {
    pki = await loadOrCreatePki(await temporaryDir(), { hosts: [] });
  });

  test('issues a client certificate for a WebCrypto public key with exactly the requested lifetime', async () => {
    const keys = await generateKeyPair();
    const now = new Date('2030-01-02T03:04:05.678Z');
    const pem = await issueCertificate(pki.ca, {
      commonName: 'device:gw-1',
      organizations: ['outpost:devices', 'site:plant-a'],
      publicKey: keys.publicKey,
      lifetimeSeconds: 2,
      usage: 'client',
      now,
    });
    const cert = new X509Certificate(pem);
    assert.equal(new Date(cert.validTo).toISOString(), '2030-01-02T03:04:07.000Z');
    // Backdated by half the lifetime, at most five minutes, to absorb clock skew.
    assert.equal(new Date(cert.validFrom).toISOString(), '2030-01-02T03:04:04.000Z');
    assert.ok(cert.verify(new X509Certificate(pki.caCert).publicKey));
    assert.equal(cert.checkIssued(new X509Certificate(pki.caCert)), true);
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.2']);
    assert.deepEqual(peerIdentity(cert.toLegacyObject()), {
      user: 'device:gw-1',
      groups: ['outpost:devices', 'site:plant-a'],
    });
  });

  test('a certificate issued now is valid now', async () => {
    const keys = await generateKeyPair();
    const pem = await issueCertificate(pki.ca, {
      commonName: 'now',
      publicKey: keys.publicKey,
      lifetimeSeconds: 2,
      usage: 'client',
    });
    const cert = new X509Certificate(pem);
    assert.ok(Date.parse(cert.validFrom) <= Date.now() && Date.now() <= Date.parse(cert.validTo));
  });

  test('rejects a lifetime that is not a positive whole number of seconds', async () => {
    const keys = await generateKeyPair();
    for (const lifetimeSeconds of [0, -1, 1.5]) {
      await assert.rejects(
        issueCertificate(pki.ca, {
          commonName: 'x',
          publicKey: keys.publicKey,
          lifetimeSeconds,
          usage: 'client',
        }),
        RangeError,
      );
    }
  });

  test('rejects a public key that is not a PEM SubjectPublicKeyInfo', async () => {
    await assert.rejects(
      issueCertificate(pki.ca, {
        commonName: 'x',
        publicKey: 'garbage',
        lifetimeSeconds: 60,
        usage: 'client',
      }),
      InvalidPublicKeyError,
    );
  });
});

describe('parseCsr', () => {
  let csrPem: string;
  let keys: CryptoKeyPair;

  before(async () => {
    keys = await generateKeyPair();
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: [{ O: ['outpost:devices'] }, { CN: ['gw-17'] }],
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    });
    csrPem = csr.toString('pem');
  });

  test('reads the subject and public key of a CSR whose signature verifies', async () => {
    const parsed = await parseCsr(csrPem);
    assert.equal(parsed.commonName, 'gw-17');
    assert.deepEqual(parsed.organizations, ['outpost:devices']);
    assert.equal(parsed.verified, true);
    const expected = await globalThis.crypto.subtle.exportKey('spki', keys.publicKey);
    assert.deepEqual(x509.PemConverter.decodeFirst(parsed.publicKey), expected);
  });

  test('a certificate issued for the parsed public key carries the requester key', async () => {
    const pki = await loadOrCreatePki(await temporaryDir(), { hosts: [] });
    const parsed = await parseCsr(csrPem);
    const pem = await issueCertificate(pki.ca, {
      commonName: parsed.commonName,
      publicKey: parsed.publicKey,
      lifetimeSeconds: 3600,
      usage: 'client',
    });
    const cert = new X509Certificate(pem);
    assert.equal(cert.publicKey.export({ type: 'spki', format: 'pem' }), parsed.publicKey);
  });

  test('rejects a CSR whose subject was altered after signing', async () => {
    const der = Buffer.from(x509.PemConverter.decodeFirst(csrPem));
    const at = der.indexOf('gw-17');
    assert.ok(at > 0);
    der[at + 4] = '9'.charCodeAt(0); // gw-17 -> gw-19: still valid DER, signature now wrong
    const tampered = x509.PemConverter.encode(
      der.buffer.slice(der.byteOffset, der.byteOffset + der.length),
      'CERTIFICATE REQUEST',
    );
    await assert.rejects(parseCsr(tampered), (error: unknown) => {
      assert.ok(error instanceof InvalidCsrError);
      assert.equal(error.reason, 'signature');
      return true;
    });
  });

  test('rejects input that is not a CSR as malformed', async () => {
    for (const input of ['', 'hello', csrPem.slice(0, 120)]) {
      await assert.rejects(parseCsr(input), (error: unknown) => {
        assert.ok(error instanceof InvalidCsrError, String(error));
        assert.equal(error.reason, 'malformed');
        return true;
      });
    }
  });
});

describe('peerIdentity', () => {
  const certificate = (subject: Record<string, string | string[]>) =>
    ({ subject }) as unknown as import('node:tls').PeerCertificate;

  test('has no identity without a certificate', () => {
    assert.equal(peerIdentity(undefined), undefined);
    assert.equal(peerIdentity({} as import('node:tls').PeerCertificate), undefined);
  });

  test('reads one organization or several as groups', () => {
    assert.deepEqual(peerIdentity(certificate({ CN: 'alice', O: 'team-a' })), {
      user: 'alice',
      groups: ['team-a'],
    });
    assert.deepEqual(peerIdentity(certificate({ CN: 'bob', O: ['a', 'b'] })), {
      user: 'bob',
      groups: ['a', 'b'],
    });
    assert.deepEqual(peerIdentity(certificate({ CN: 'carol' })), { user: 'carol', groups: [] });
  });

  test('refuses a certificate with several common names', () => {
    assert.equal(peerIdentity(certificate({ CN: ['alice', 'root'] })), undefined);
  });
});

describe('writeKubeconfig', () => {
  test('kubectl reaches a server using the written kubeconfig and our certificates', async () => {
    const dir = await temporaryDir();
    const pki = await loadOrCreatePki(dir, { hosts: [] });
    const running = await startServer({
      cert: pki.serverCert,
      key: pki.serverKey,
      ca: pki.caCert,
      requestCert: true,
      rejectUnauthorized: true,
    });
    try {
      const path = join(dir, 'kube', 'config');
      await writeKubeconfig(path, {
        server: `https://127.0.0.1:${running.port}`,
        caCert: pki.caCert,
        clientCert: pki.adminCert,
        clientKey: pki.adminKey,
      });
      assert.equal(await fileMode(path), 0o600);
      // Async execFile: a synchronous child would block this process's event loop and the server in it.
      const { stdout } = await execFileAsync('kubectl', ['--kubeconfig', path, 'get', '--raw', '/healthz'], {
        env: { ...process.env, HOME: dir, KUBECONFIG: '' },
        timeout: 8000,
      });
      assert.equal(stdout.trim(), 'ok');
      assert.deepEqual(running.seen.at(-1), {
        authorized: true,
        identity: { user: 'outpost-admin', groups: ['system:masters'] },
      });
    } finally {
      await stopServer(running.server);
    }
  });

  test('refuses a client certificate without its key', async () => {
    const path = join(await temporaryDir(), 'config');
    await assert.rejects(
      writeKubeconfig(path, { server: 'https://127.0.0.1:1', caCert: 'x', clientCert: 'y' }),
      InvalidKubeconfigOptionsError,
    );
  });

  test('replaces an existing file and leaves no temporary file behind', async () => {
    const dir = await temporaryDir();
    const path = join(dir, 'config');
    await writeFile(path, 'old', { mode: 0o644 });
    await writeKubeconfig(path, { server: 'https://hub:6443', caCert: 'CA', token: 't' });
    assert.equal(await fileMode(path), 0o600);
    assert.deepEqual(await readdir(dir), ['config']);
  });
});
