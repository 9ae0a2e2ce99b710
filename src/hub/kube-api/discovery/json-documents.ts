/**
 * HTTP helpers the discovery and OpenAPI endpoints share: the `Accept` header as media ranges in
 * the client's order of preference, and JSON answers sent byte for byte (fastify would otherwise
 * rewrite a content type such as `application/json;g=apidiscovery.k8s.io;v=v2;as=...`, quoting
 * its parameters and appending a charset).
 */
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../errors.ts';

/** One media range of an `Accept` header: `type/subtype` in lower case and its parameters. */
export interface MediaRange {
  /** `type/subtype`, lower case, e.g. `application/json` or `*\/*`. */
  readonly type: string;
  /** Parameters other than `q`, names in lower case, values unquoted and as written. */
  readonly params: Readonly<Record<string, string>>;
  /** The quality, 0 to 1. @default 1 */
  readonly q: number;
}

/**
 * The media ranges of an `Accept` header, most preferred first: by quality, then in the order
 * written (a stable sort, as the apiserver negotiates). Ranges with `q=0` are dropped; an absent
 * or empty header means `*\/*`.
 */
export function parseAccept(header: string | undefined): MediaRange[] {
  if (header === undefined || header.trim() === '') return [{ type: '*/*', params: {}, q: 1 }];
  const ranges: MediaRange[] = [];
  for (const part of header.split(',')) {
    const [rawType = '', ...rawParams] = part.split(';');
    const type = rawType.trim().toLowerCase();
    if (type === '') continue;
    const params: Record<string, string> = {};
    let q = 1;
    for (const rawParam of rawParams) {
      const equals = rawParam.indexOf('=');
      if (equals < 0) continue;
      const name = rawParam.slice(0, equals).trim().toLowerCase();
      const value = unquote(rawParam.slice(equals + 1).trim());
      if (name === 'q') {
        const parsed = Number(value);
        q = Number.isFinite(parsed) ? Math.min(Math.max(parsed, 0), 1) : 1;
      } else if (name !== '') {
        params[name] = value;
      }
    }
    if (q > 0) ranges.push({ type, params, q });
  }
  return ranges.sort((a, b) => b.q - a.q);
}

/** Whether a range accepts plain `application/json` (itself, `application/*` or `*\/*`, without `as=`). */
export function acceptsPlainJson(range: MediaRange): boolean {
  if (range.params.as !== undefined) return false;
  return range.type === 'application/json' || range.type === 'application/*' || range.type === '*/*';
}

function unquote(value: string): string {
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
}

/** A JSON answer prepared once: its bytes and their entity tag. */
export interface JsonBody {
  readonly bytes: Buffer;
  /** A strong entity tag of the bytes, quoted. */
  readonly etag: string;
}

/** Serialises a value once for {@link sendJson}. */
export function jsonBody(value: unknown): JsonBody {
  const bytes = Buffer.from(JSON.stringify(value), 'utf8');
  return { bytes, etag: `"${createHash('sha256').update(bytes).digest('hex').slice(0, 32)}"` };
}

/**
 * Sends a JSON body with exactly `contentType` (default `application/json`) and its ETag, or
 * `304 Not Modified` when the request's `If-None-Match` names that ETag.
 */
export function sendJson(
  request: FastifyRequest,
  reply: FastifyReply,
  body: JsonBody,
  options: { readonly code?: number; readonly contentType?: string; readonly cacheControl?: string } = {},
): FastifyReply {
  reply.header('cache-control', options.cacheControl ?? 'no-cache, private');
  reply.header('etag', body.etag);
  const ifNoneMatch = request.headers['if-none-match'];
  if (ifNoneMatch?.split(',').some((tag) => tag.trim() === body.etag)) {
    return reply.code(304).send();
  }
  reply.code(options.code ?? 200);
  reply.header('content-type', options.contentType ?? 'application/json');
  return reply.send(body.bytes);
}

/**
 * Sends an API error as its Kubernetes `Status` in JSON, here rather than through the API's error
 * handler so that these endpoints answer the same on an app that has only them.
 */
export function sendFailure(reply: FastifyReply, error: ApiError): FastifyReply {
  reply
    .code(error.code)
    .header('content-type', 'application/json')
    .header('cache-control', 'no-cache, private');
  return reply.send(Buffer.from(JSON.stringify(error.toStatus()), 'utf8'));
}

/** The apiserver's answer for a URL nothing is served at. */
export function pathNotFound(): ApiError {
  return new ApiError(404, 'NotFound', 'the server could not find the requested resource');
}
