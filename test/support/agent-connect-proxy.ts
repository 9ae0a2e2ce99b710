/**
 * A CONNECT proxy on 127.0.0.1 for the agent's proxy tests (its hub client
 * and its telemetry uplink): it tunnels to whatever target it is asked for
 * and records each target; other requests get 405.
 */
import { createServer, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';

/** A running CONNECT proxy. */
export interface ConnectProxy {
  /** `http://127.0.0.1:PORT`, for `HTTPS_PROXY`. */
  readonly url: string;
  /** The `host:port` of each tunnel opened so far, in order. */
  readonly connects: string[];
  /** Cuts every tunnel and stops listening. */
  close(): Promise<void>;
}

/** Starts a CONNECT proxy on 127.0.0.1 (see the module comment). */
export async function startConnectProxy(): Promise<ConnectProxy> {
  const connects: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((_, response) => response.writeHead(405).end());
  server.on('connect', (request: IncomingMessage, client: Socket, head: Buffer) => {
    connects.push(request.url ?? '');
    const [host, port] = (request.url ?? '').split(':');
    const upstream = connect(Number(port), host!, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client).pipe(upstream);
    });
    // A tunnel is one piece: either end failing or closing ends both.
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.once('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    connects,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
