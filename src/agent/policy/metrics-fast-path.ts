import type { Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';

/**
 * The metrics endpoint's hot path. Programs POST one metric per request,
 * up to a thousand times a second (device-worker-ng's body, curl's
 * requests); through node's `http` server each costs an IncomingMessage, a
 * ServerResponse and their streams (bench/device-policies.ts). Here the
 * commonest request — `POST /metrics HTTP/1.1` with a Content-Length, a
 * JSON content type or none, and otherwise only headers known to change
 * nothing (Host, User-Agent, Accept…; not Transfer-Encoding, Expect,
 * Upgrade, `Connection: close`, nor any it does not know) — is
 * read straight off the socket and answered with one write. Anything else,
 * at any point of the connection, hands the socket (with the bytes not yet
 * consumed) to node's `http` server, which then owns the connection to its
 * end: GETs, 404s, 405s, 415s, chunked bodies, HTTP/1.0, bad heads.
 */

/** What the fast path does with a complete, simple request's body: a 400's text, or nothing (204). */
export type BodyHandler = (body: Buffer) => string | undefined;

/** Options of {@link serveFast}. */
export interface FastPathOptions {
  /** Takes over what the fast path does not serve (not listening itself). */
  readonly http: HttpServer;
  readonly onBody: BodyHandler;
  /** Largest body served. */
  readonly maxBodyBytes: number;
  /** Idle keep-alive connections are closed after this. */
  readonly keepAliveMs: number;
}

const REQUEST_LINE = Buffer.from('POST /metrics HTTP/1.1\r\n', 'latin1');
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
const MAX_HEAD_BYTES = 8192;
/** Headers clients send (curl, fetch, Python, Go) that the fast path may ignore. */
const HARMLESS = new Set([
  'host',
  'user-agent',
  'accept',
  'accept-encoding',
  'accept-language',
  'keep-alive',
  'sec-fetch-mode',
]);

/** A complete simple request's extent, or why it cannot be served here yet. */
type Parsed = { readonly bodyStart: number; readonly end: number } | 'incomplete' | 'other';

/** Serves `socket` on the fast path until a request it does not serve comes; see the module comment. */
export function serveFast(socket: Socket, options: FastPathOptions): void {
  let pending: Buffer | undefined;
  socket.setNoDelay(true);
  socket.setTimeout(options.keepAliveMs, () => socket.destroy());
  const onError = () => socket.destroy();
  socket.on('error', onError);
  const onData = (chunk: Buffer) => {
    let buffer = pending ? Buffer.concat([pending, chunk]) : chunk;
    pending = undefined;
    let out = '';
    for (;;) {
      const parsed = parse(buffer, options.maxBodyBytes);
      if (parsed === 'incomplete') {
        if (buffer.length > 0) pending = buffer;
        break;
      }
      if (parsed === 'other') {
        if (out) socket.write(out, 'latin1');
        handOff(buffer);
        return;
      }
      const problem = options.onBody(buffer.subarray(parsed.bodyStart, parsed.end));
      out += problem === undefined ? noContent() : badRequest(problem);
      buffer = buffer.subarray(parsed.end);
    }
    if (out) socket.write(out, 'latin1');
  };
  const handOff = (rest: Buffer) => {
    socket.off('data', onData);
    socket.off('error', onError);
    socket.setTimeout(0);
    if (rest.length > 0) socket.unshift(rest);
    options.http.emit('connection', socket);
  };
  socket.on('data', onData);
}

function parse(buffer: Buffer, maxBodyBytes: number): Parsed {
  const line = Math.min(buffer.length, REQUEST_LINE.length);
  if (buffer.compare(REQUEST_LINE, 0, line, 0, line) !== 0) return 'other';
  const headEnd = buffer.indexOf(HEAD_END);
  if (headEnd < 0) return buffer.length > MAX_HEAD_BYTES ? 'other' : 'incomplete';
  const head = buffer.toString('latin1', REQUEST_LINE.length, headEnd);
  let length = -1;
  for (const field of head.split('\r\n')) {
    const colon = field.indexOf(':');
    if (colon <= 0) return 'other';
    const name = field.slice(0, colon).toLowerCase();
    const value = field.slice(colon + 1).trim();
    switch (name) {
      case 'content-length':
        if (length >= 0 || !/^\d{1,6}$/.test(value)) return 'other';
        length = Number(value);
        break;
      case 'content-type':
        if (!/^application\/json\b/i.test(value)) return 'other';
        break;
      case 'connection':
        if (value.toLowerCase() !== 'keep-alive') return 'other';
        break;
      default:
        // Headers known not to change the request's framing or meaning; any other (Transfer-Encoding,
        // Expect, Upgrade, one we never heard of) is node's http server's to read.
        if (!HARMLESS.has(name)) return 'other';
    }
  }
  if (length < 0 || length > maxBodyBytes) return 'other';
  const bodyStart = headEnd + HEAD_END.length;
  if (buffer.length < bodyStart + length) return 'incomplete';
  return { bodyStart, end: bodyStart + length };
}

let dateSecond = 0;
let dateText = '';

/** The Date header's value, made once a second. */
function date(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}

function noContent(): string {
  return `HTTP/1.1 204 No Content\r\nDate: ${date()}\r\nConnection: keep-alive\r\n\r\n`;
}

function badRequest(text: string): string {
  const body = Buffer.from(`${text}\n`, 'utf8');
  return `HTTP/1.1 400 Bad Request\r\nDate: ${date()}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nConnection: keep-alive\r\n\r\n${body.toString('latin1')}`;
}
