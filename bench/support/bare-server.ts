/**
 * The baseline server, run as its own process: plain `node:https` with the
 * hub's certificates (client certificates requested, as the hub does), no
 * framework, no store, no parsing.
 *
 *   node --import tsx bench/support/bare-server.ts --pki DIR [--route /path=FILE ...]
 *
 * - POST to any path: answers 201 with the request body echoed back.
 * - GET of a `--route` path: answers 200 with that file's bytes (read once).
 *
 * Prints `bare server listening on https://127.0.0.1:PORT` when ready.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { join } from 'node:path';

const args = process.argv.slice(2);
let pki: string | undefined;
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
  } else {
    throw new Error(`unknown argument ${arg}`);
  }
}
if (!pki) throw new Error('--pki DIR is required');

const server = createServer(
  {
    key: readFileSync(join(pki, 'server.key')),
    cert: readFileSync(join(pki, 'server.crt')),
    ca: readFileSync(join(pki, 'ca.crt')),
    requestCert: true,
    rejectUnauthorized: false,
    keepAliveTimeout: 120_000,
  },
  (request, response) => {
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
  const port = typeof address === 'object' && address ? address.port : 0;
  process.stdout.write(`bare server listening on https://127.0.0.1:${port}\n`);
});
process.once('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
