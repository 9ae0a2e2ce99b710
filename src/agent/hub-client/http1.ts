/**
 * A request to the hub over HTTP/1.1 (`node:https`, keep-alive connections
 * from the dispatcher's agents): the path for a hub (or something in front of
 * it) that does not negotiate HTTP/2.
 */

import type { ClientRequestArgs } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import { openTunnel } from './proxy-tunnel.ts';
import { type HubResponse, HubResponseBody } from './response.ts';
import type { HubCallOptions, HubTls } from './types.ts';

/** Keep-alive HTTP/1.1 connections to the hub through CONNECT tunnels of `proxy`. */
export class TunnelAgent extends Agent {
  readonly proxy: string;

  constructor(proxy: string) {
    super({ keepAlive: true, scheduling: 'lifo' });
    this.proxy = proxy;
  }

  /** Node's agent takes a socket from this callback (the asynchronous form of `createConnection`). */
  override createConnection(
    options: ClientRequestArgs & ConnectionOptions,
    done?: (error: Error | null, socket: Duplex) => void,
  ): undefined {
    const host = (options.host ?? 'localhost').replace(/^\[|\]$/g, '');
    const target = new URL(`https://${isIP(host) === 6 ? `[${host}]` : host}:${options.port ?? 443}`);
    openTunnel(this.proxy, target).then(
      (tunnel) =>
        // TLS end to end with the hub, verified against its name (SNI only for names, RFC 6066).
        done?.(null, tlsConnect({ ...options, socket: tunnel, host, servername: isIP(host) ? '' : host })),
      (error: Error) => done?.(error, undefined as never),
    );
    return undefined;
  }
}

/** Sends one request on a connection of `agent`; resolves once the answer's headers arrived. */
export function http1Request(
  target: URL,
  options: HubCallOptions,
  connection: { agent: Agent; tls: HubTls; connectTimeoutMs: number },
): Promise<HubResponse> {
  const { tls, connectTimeoutMs } = connection;
  const headersTimeout = options.headersTimeout ?? 30_000;
  const bodyTimeout = options.bodyTimeout ?? 30_000;
  return new Promise((resolve, reject) => {
    const request = httpsRequest(target, {
      method: options.method,
      agent: connection.agent,
      headers: {
        ...options.headers,
        ...(typeof options.body === 'string'
          ? { 'content-length': String(Buffer.byteLength(options.body)) }
          : {}),
      },
      ...(options.signal ? { signal: options.signal } : {}),
      ca: tls.ca,
      cert: tls.cert,
      key: tls.key,
      rejectUnauthorized: tls.ca !== undefined,
    });
    const fail = (message: string) => () => request.destroy(new Error(message));
    const connectTimer = setTimeout(
      fail(`cannot connect to the hub within ${connectTimeoutMs} ms`),
      connectTimeoutMs,
    );
    const headersTimer =
      headersTimeout > 0
        ? setTimeout(fail(`no answer from the hub within ${headersTimeout} ms`), headersTimeout)
        : undefined;
    const settled = () => {
      clearTimeout(connectTimer);
      clearTimeout(headersTimer);
    };
    request.once('socket', (socket) => {
      // A new TLS connection is connected once its handshake is done; a reused or tunnelled one already is.
      if (socket.connecting) socket.once('secureConnect', () => clearTimeout(connectTimer));
      else clearTimeout(connectTimer);
    });
    // `on`, not `once`: an error after the answer (a broken body) reaches the body's reader too.
    request.on('error', (error) => {
      settled();
      reject(error);
    });
    request.once('response', (response) => {
      settled();
      resolve({
        statusCode: response.statusCode ?? 0,
        headers: response.headers,
        body: new HubResponseBody(response, bodyTimeout),
      });
    });
    if (options.body === undefined || typeof options.body === 'string') request.end(options.body);
    else {
      options.body.once('error', (error) => request.destroy(error));
      options.body.pipe(request);
    }
  });
}
