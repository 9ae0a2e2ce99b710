import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HubDispatcher, hubRequest, proxyFor } from './hub-https.ts';

const hub = new URL('https://hub.example.com:6443/api');
const PROXY = 'http://proxy.site:3128';

describe('proxyFor', () => {
  it('uses HTTPS_PROXY (or https_proxy) when NO_PROXY does not name the hub', () => {
    assert.equal(proxyFor(hub, { HTTPS_PROXY: PROXY }), PROXY);
    assert.equal(proxyFor(hub, { https_proxy: PROXY, NO_PROXY: 'other.example.com,10.0.0.1' }), PROXY);
    assert.equal(proxyFor(hub, {}), undefined);
  });

  it('goes direct for the hub, its domain, a wildcard or a matching port in NO_PROXY', () => {
    for (const noProxy of [
      'hub.example.com',
      '.example.com',
      '*.example.com',
      'example.com',
      '*',
      'hub.example.com:6443',
    ])
      assert.equal(
        proxyFor(hub, { HTTPS_PROXY: PROXY, NO_PROXY: `localhost, ${noProxy}` }),
        undefined,
        noProxy,
      );
  });

  it('keeps the proxy when NO_PROXY names another port or only a suffix of a label', () => {
    assert.equal(proxyFor(hub, { HTTPS_PROXY: PROXY, NO_PROXY: 'hub.example.com:443' }), PROXY);
    assert.equal(proxyFor(hub, { HTTPS_PROXY: PROXY, no_proxy: 'ample.com' }), PROXY);
  });
});

describe('hubRequest', () => {
  let dir: string;
  let server: Server;
  let url: string;
  let ca: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'outpost-hub-https-'));
    ca = selfSigned(dir, 'hub');
    server = createServer({ key: readFileSync(join(dir, 'hub.key')), cert: ca }, (request, response) => {
      if (request.url === '/silent') return; // never answers
      if (request.url === '/stall') {
        response.writeHead(200);
        response.write('{"partial":');
        return; // the body stalls
      }
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => response.end(JSON.stringify({ method: request.method, body })));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
  });

  after(async () => {
    server.closeAllConnections();
    server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('sends a request and reads the answer, verifying the hub with the CA', async () => {
    const dispatcher = new HubDispatcher({ ca });
    try {
      const response = await hubRequest(`${url}/echo`, { method: 'POST', dispatcher, body: '{"a":1}' });
      assert.equal(response.statusCode, 200);
      assert.deepEqual(JSON.parse(await response.body.text()), { method: 'POST', body: '{"a":1}' });
    } finally {
      await dispatcher.close();
    }
  });

  it('refuses a hub whose certificate the CA does not verify', async () => {
    const other = new HubDispatcher({ ca: selfSigned(dir, 'other') });
    try {
      await assert.rejects(
        hubRequest(`${url}/echo`, { method: 'GET', dispatcher: other }),
        /self-signed|verify/,
      );
    } finally {
      await other.close();
    }
  });

  it('fails when the answer does not come within headersTimeout', async () => {
    const dispatcher = new HubDispatcher({ ca });
    try {
      await assert.rejects(
        hubRequest(`${url}/silent`, { method: 'GET', dispatcher, headersTimeout: 300 }),
        /no answer from the hub within 300 ms/,
      );
    } finally {
      await dispatcher.close();
    }
  });

  it('fails the body when it stays silent longer than bodyTimeout', async () => {
    const dispatcher = new HubDispatcher({ ca });
    try {
      const response = await hubRequest(`${url}/stall`, { method: 'GET', dispatcher, bodyTimeout: 300 });
      await assert.rejects(response.body.text(), /stalled for 300 ms/);
    } finally {
      await dispatcher.close();
    }
  });
});

/** A self-signed certificate for 127.0.0.1 made with openssl (DIR/NAME.key, returns the PEM). */
function selfSigned(dir: string, name: string): string {
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1']
      .concat(['-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1'])
      .concat(['-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`)]),
    { stdio: 'ignore' },
  );
  return readFileSync(join(dir, `${name}.crt`), 'utf8');
}
