/** A TCP relay whose connections can go silent: a dead link, for the agent's keep-alive tests. */
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
