/**
 * TCP relays to a local port that a test controls: one whose connections can go silent (a dead
 * link, for the agent's keep-alive tests), and a gate that refuses and cuts connections.
 */
import { connect, createServer as createTcpServer, type Server, type Socket } from 'node:net';

/** A TCP relay to `port` on 127.0.0.1 whose connections can be made silent, as a dead link is. */
export async function startTcpRelay(port: number): Promise<{
  port: number;
  silence(): void;
  close(): Promise<void>;
}> {
  const sockets = new Set<Socket>();
  let silent = false;
  const server: Server = createTcpServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      sockets.add(from);
      from.once('close', () => to.destroy());
      from.on('error', () => to.destroy());
      from.on('data', (chunk) => {
        if (!silent) to.write(chunk);
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    silence: () => {
      silent = true;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A TCP pass-through to the hub that the test can shut, so an agent reconnects only when the test is ready. */
export class Gate {
  open = true;
  readonly #sockets = new Set<Socket>();
  readonly #server: Server;

  constructor(readonly target: () => number) {
    this.#server = createTcpServer((socket) => {
      if (!this.open) return socket.destroy();
      const upstream = connect(this.target(), '127.0.0.1');
      for (const s of [socket, upstream]) {
        this.#sockets.add(s);
        s.on('error', () => {});
        s.on('close', () => {
          this.#sockets.delete(s);
          socket.destroy();
          upstream.destroy();
        });
      }
      socket.pipe(upstream).pipe(socket);
    });
  }

  /** Listens on a free loopback port; resolves with its `https://` URL. */
  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `https://127.0.0.1:${(this.#server.address() as { port: number }).port}`;
  }

  /** Refuses new connections and cuts the open ones. */
  shut(): void {
    this.open = false;
    for (const socket of this.#sockets) socket.destroy();
  }

  close(): Promise<void> {
    this.shut();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
