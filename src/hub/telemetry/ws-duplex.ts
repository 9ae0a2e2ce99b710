/**
 * A WebSocket as the byte stream aedes reads MQTT from. Unlike ws's own
 * `createWebSocketStream`, writes made while one is in flight leave as one
 * WebSocket frame (`writev`): aedes writes every PUBACK separately, and under
 * TLS a frame each would cost a record and a system call per message. MQTT
 * over WebSocket allows a frame to hold several packets.
 */
import { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';

/** Wraps `ws` (binary messages in, binary frames out); destroying either end closes the other. */
export function webSocketDuplex(ws: WebSocket): Duplex {
  const duplex = new Duplex({
    read() {
      if (ws.isPaused) ws.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      ws.send(chunk, { binary: true }, callback);
    },
    writev(chunks, callback) {
      ws.send(Buffer.concat(chunks.map(({ chunk }) => chunk as Buffer)), { binary: true }, callback);
    },
    final(callback) {
      ws.close();
      callback();
    },
    destroy(error, callback) {
      ws.terminate();
      callback(error);
    },
  });
  ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
    const buffer = Buffer.isBuffer(data)
      ? data
      : Array.isArray(data)
        ? Buffer.concat(data)
        : Buffer.from(data);
    if (!duplex.push(buffer)) ws.pause();
  });
  ws.once('close', () => duplex.destroy());
  ws.once('error', (error) => duplex.destroy(error));
  return duplex;
}
