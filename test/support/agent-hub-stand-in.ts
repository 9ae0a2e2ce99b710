/**
 * A hub stand-in for the agent's hub client tests: HTTP/2 beside HTTP/1.1 (as
 * the hub serves) or HTTP/1.1 only, on 127.0.0.1 with a self-signed
 * certificate, answering a few fixed paths.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  createSecureServer,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type ServerHttp2Session,
} from 'node:http2';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';

/** A self-signed certificate for 127.0.0.1 made with openssl (DIR/NAME.key, returns the PEM). */
export function hubStandInCertificate(dir: string, name: string): string {
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1']
      .concat(['-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1'])
      .concat(['-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`)]),
    { stdio: 'ignore' },
  );
  return readFileSync(join(dir, `${name}.crt`), 'utf8');
}

/** A hub stand-in on 127.0.0.1. */
export interface HubStandIn {
  readonly url: string;
  /** TCP connections accepted so far. */
  readonly connections: () => number;
  /** HTTP/2 sessions open now. */
  readonly sessions: Set<ServerHttp2Session>;
  close(): Promise<void>;
}

type Request = IncomingMessage | Http2ServerRequest;
type Response = ServerResponse | Http2ServerResponse;

/**
 * Answers: `/echo` (method, body and HTTP version as JSON), `/silent` (never),
 * `/stall` (a body that stops), `/watch` (a line every 50 ms until closed).
 */
function handle(request: Request, answer: Response): void {
  // The two APIs have the same shape; their union's overloads are not callable.
  const response = answer as ServerResponse;
  if (request.url === '/silent') return;
  if (request.url === '/stall') {
    response.writeHead(200);
    response.write('{"partial":');
    return;
  }
  if (request.url === '/watch') {
    response.writeHead(200);
    const timer = setInterval(() => response.write('{"type":"BOOKMARK"}\n'), 50);
    response.once('close', () => clearInterval(timer));
    return;
  }
  let body = '';
  request.on('data', (chunk: Buffer) => (body += chunk));
  request.on('end', () =>
    response.end(JSON.stringify({ method: request.method, body, version: request.httpVersion })),
  );
}

/** Starts a hub stand-in with the key and certificate `DIR/NAME.key` / `cert`. */
export async function startHubStandIn(options: {
  protocol: 'h2' | 'http/1.1';
  dir: string;
  name: string;
  cert: string;
}): Promise<HubStandIn> {
  const tls = { key: readFileSync(join(options.dir, `${options.name}.key`)), cert: options.cert };
  const sessions = new Set<ServerHttp2Session>();
  let connections = 0;
  const server =
    options.protocol === 'h2'
      ? createSecureServer({ ...tls, allowHTTP1: true }, handle)
      : createHttpsServer(tls, handle);
  server.on('connection', () => connections++);
  server.on('session', (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as { port: number }).port}`,
    connections: () => connections,
    sessions,
    async close() {
      for (const session of sessions) session.destroy();
      (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
