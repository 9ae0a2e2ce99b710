/**
 * The fleet benchmark's baseline: a bare `node:http2` server (HTTP/1.1 too,
 * as the hub) with the hub's
 * certificates (client certificates required and verified against the hub's
 * CA, as the hub does) answering the simulated agents' requests with no
 * store, no parsing, no authorisation:
 *
 *   node --import tsx bench/fleet/bare-fleet-server.ts --pki DIR --mailbox FILE [--port N]
 *
 * - `GET /apis/.../mailboxes?...` without `watch`: a list holding FILE's Mailbox.
 * - `GET ...?watch=1...`: an endless chunked stream, a BOOKMARK every 10 s
 *   (as the hub sends them).
 * - `GET /agent/v1/devices/NAME/log-requests` (the agent's long poll): held 25 s,
 *   then `{"items":[]}`, as the hub answers when nobody asks for logs.
 * - `PATCH` (a heartbeat): 200 with the request body echoed (a status of the same size).
 * - `POST /_bench/fanout`: writes the request body (one event line) to every
 *   open watch; answers with their count.
 *
 * Prints `bare fleet server listening on https://127.0.0.1:PORT` when ready;
 * SIGTERM drops every connection and exits (as the hub's stop does).
 */
import { readFileSync } from 'node:fs';
import { createSecureServer, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';

const args = process.argv.slice(2);
const option = (name: string) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
};
const pki = option('--pki');
const mailboxFile = option('--mailbox');
if (!pki || !mailboxFile) throw new Error('--pki DIR and --mailbox FILE are required');
const port = Number(option('--port') ?? 0);
const mailbox = readFileSync(mailboxFile, 'utf8');
const list = Buffer.from(
  `{"kind":"MailboxList","apiVersion":"outpost.dev/v1alpha1","metadata":{"resourceVersion":"1"},"items":[${mailbox}]}`,
);
const BOOKMARK =
  '{"type":"BOOKMARK","object":{"kind":"Mailbox","apiVersion":"outpost.dev/v1alpha1","metadata":{"resourceVersion":"1"}}}\n';

const watches = new Set<Http2ServerResponse>();
const LOG_POLL_MS = 25_000;
const NO_LOG_REQUESTS = Buffer.from('{"items":[]}');

function readBody(request: Http2ServerRequest, done: (body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => done(Buffer.concat(chunks)));
}

const server = createSecureServer(
  {
    allowHTTP1: true,
    key: readFileSync(join(pki, 'server.key')),
    cert: readFileSync(join(pki, 'server.crt')),
    ca: readFileSync(join(pki, 'ca.crt')),
    requestCert: true,
    rejectUnauthorized: true,
  },
  (request: Http2ServerRequest, response: Http2ServerResponse) => {
    const url = request.url ?? '';
    if (request.method === 'GET' && url.includes('watch=1')) {
      response.writeHead(200, { 'content-type': 'application/json' });
      (response as unknown as { flushHeaders(): void }).flushHeaders();
      watches.add(response);
      const timer = setInterval(() => response.write(BOOKMARK), 10_000);
      response.on('close', () => {
        clearInterval(timer);
        watches.delete(response);
      });
      return;
    }
    if (request.method === 'GET' && url.endsWith('/log-requests')) {
      const timer = setTimeout(() => {
        response.writeHead(200, {
          'content-type': 'application/json',
          'content-length': NO_LOG_REQUESTS.length,
        });
        response.end(NO_LOG_REQUESTS);
      }, LOG_POLL_MS);
      response.on('close', () => clearTimeout(timer));
      return;
    }
    if (request.method === 'GET') {
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': list.length });
      response.end(list);
      return;
    }
    readBody(request, (body) => {
      if (request.method === 'POST' && url === '/_bench/fanout') {
        for (const watch of watches) watch.write(body);
        response.writeHead(200);
        response.end(String(watches.size));
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      response.end(body);
    });
  },
);
const sockets = new Set<TLSSocket>();
server.on('secureConnection', (socket: TLSSocket) => {
  sockets.add(socket);
  socket.once('close', () => sockets.delete(socket));
});
server.listen(port, '127.0.0.1', () => {
  const address = server.address();
  const actual = typeof address === 'object' && address ? address.port : 0;
  process.stdout.write(`bare fleet server listening on https://127.0.0.1:${actual}\n`);
});
process.once('SIGTERM', () => {
  for (const socket of sockets) socket.destroy();
  server.close(() => process.exit(0));
});
