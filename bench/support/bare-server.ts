/**
 * The baseline server, run as its own process, with the hub's certificates
 * (client certificates requested, as the hub does) and no store, no parsing:
 *
 *   node --import tsx bench/support/bare-server.ts --pki DIR [--fastify] [--route /path=FILE ...] [--put-dir DIR]
 *
 * - POST to any path: answers 201 with the request body echoed back.
 * - GET of a `--route` path: answers 200 with that file's bytes (read once).
 * - PUT (plain `node:https` only, with `--put-dir DIR`): streams the body into DIR/<last path
 *   segment>, fsyncs it and answers 200 with `{"bytes":N}` (the bare upload baseline).
 *
 * Plain `node:https` by default; with `--fastify`, the same answers through
 * Fastify set up as the hub sets it up (body limit, buffer body parser, an
 * async `onRequest` hook reading the client certificate), to tell the
 * framework's share of the hub's cost from the hub's own work.
 *
 * Prints `bare server listening on https://127.0.0.1:PORT` when ready.
 */
import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import { basename, join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import Fastify from 'fastify';

const args = process.argv.slice(2);
let pki: string | undefined;
let useFastify = false;
let putDir: string | undefined;
const routes = new Map<string, Buffer>();
for (let i = 0; i < args.length; i++) {
  const arg = args[i];
  const value = args[i + 1];
  if (arg === '--pki' && value) {
    pki = value;
    i++;
  } else if (arg === '--route' && value) {
    const at = value.indexOf('=');
    routes.set(value.slice(0, at), readFileSync(value.slice(at + 1)));
    i++;
  } else if (arg === '--put-dir' && value) {
    putDir = value;
    i++;
  } else if (arg === '--fastify') {
    useFastify = true;
  } else {
    throw new Error(`unknown argument ${arg}`);
  }
}
if (!pki) throw new Error('--pki DIR is required');
const tls = {
  key: readFileSync(join(pki, 'server.key')),
  cert: readFileSync(join(pki, 'server.crt')),
  ca: readFileSync(join(pki, 'ca.crt')),
  requestCert: true,
  rejectUnauthorized: false,
};

const ready = (port: number) => process.stdout.write(`bare server listening on https://127.0.0.1:${port}\n`);

if (useFastify) {
  const app = Fastify({ https: tls, bodyLimit: 3 * 1024 * 1024, keepAliveTimeout: 120_000, logger: false });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  app.addHook('onRequest', async (request) => {
    // What the hub's authenticator does on a keep-alive connection: look at the peer certificate.
    if (!(request.raw.socket as TLSSocket).authorized) throw new Error('no client certificate');
  });
  app.post('/*', async (request, reply) => reply.code(201).type('application/json').send(request.body));
  app.get('/*', async (request, reply) => {
    const body = routes.get(request.url.split('?')[0]!);
    if (!body) return reply.code(404).send();
    return reply.type('application/json').send(body);
  });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  ready(Number(new URL(address).port));
  process.once('SIGTERM', () => {
    app.server.closeAllConnections();
    void app.close().then(() => process.exit(0));
  });
} else {
  const server = createServer(
    { ...tls, keepAliveTimeout: 120_000 },
    (request: IncomingMessage, response: ServerResponse) => {
      if (request.method === 'GET') {
        const body = routes.get((request.url ?? '').split('?')[0]!);
        if (!body) {
          response.writeHead(404).end();
          return;
        }
        response.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
        response.end(body);
        return;
      }
      if (request.method === 'PUT' && putDir) {
        void putFile(request, response, putDir);
        return;
      }
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks);
        response.writeHead(201, { 'content-type': 'application/json', 'content-length': body.length });
        response.end(body);
      });
    },
  );
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    ready(typeof address === 'object' && address ? address.port : 0);
  });
  process.once('SIGTERM', () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}

/** Streams a PUT's body to a file, flushed to disk before the answer (as the hub flushes a chunk). */
async function putFile(request: IncomingMessage, response: ServerResponse, dir: string): Promise<void> {
  const handle = await open(join(dir, basename((request.url ?? 'x').split('?')[0]!) || 'x'), 'w', 0o600);
  let bytes = 0;
  try {
    for await (const chunk of request) {
      await handle.write(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  const body = JSON.stringify({ bytes });
  response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  response.end(body);
}
