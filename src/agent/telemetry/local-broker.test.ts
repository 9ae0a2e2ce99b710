import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { matchesCommands, startLocalBroker } from './local-broker.ts';

let dir: string;
const kept = () => (JSON.parse(readFileSync(join(dir, 'mqtt.json'), 'utf8')) as { port: number }).port;

describe('local MQTT endpoint', () => {
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'outpost-local-broker-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps its port across restarts, and takes a new one (logged) when another program holds it', async () => {
    const forward = async () => {};
    const first = await startLocalBroker({ dataDir: dir, forward });
    assert.equal(first.url, `mqtt://127.0.0.1:${first.port}`);
    assert.equal(kept(), first.port);
    await first.close();
    const again = await startLocalBroker({ dataDir: dir, forward });
    assert.equal(again.port, first.port);
    await again.close();

    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(first.port, '127.0.0.1', resolve));
    const warnings: string[] = [];
    const log = { info() {}, debug() {}, warn: (_: unknown, message: string) => void warnings.push(message) };
    try {
      const moved = await startLocalBroker({ dataDir: dir, forward, log: log as never });
      assert.notEqual(moved.port, first.port);
      assert.equal(kept(), moved.port);
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!, /port was taken/);
      await moved.close();
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });

  it('acknowledges a forwarded message only once it is queued, and delivers it locally too', async () => {
    const queued: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const broker = await startLocalBroker({
      dataDir: dir,
      forward: async (topic, payload) => {
        await gate;
        queued.push(`${topic} ${payload.toString()}`);
      },
    });
    const client = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
    try {
      const seen: string[] = [];
      client.on('message', (topic) => seen.push(topic));
      await client.subscribeAsync(['telemetry/#', 'commands/#'], { qos: 1 });
      let acked = false;
      const publish = client.publishAsync('telemetry/ns/c/f', '1', { qos: 1 }).then(() => {
        acked = true;
      });
      await client.publishAsync('other/topic', 'x', { qos: 1 }); // not forwarded: not held back
      assert.equal(acked, false, 'no PUBACK before the message is queued');
      release();
      await publish;
      assert.deepEqual(queued, ['telemetry/ns/c/f 1']);
      await broker.publish('commands/ns/c/f', Buffer.from('{"id":"1","value":2}'));
      while (seen.length < 2) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.deepEqual(seen, ['telemetry/ns/c/f', 'commands/ns/c/f']);
    } finally {
      await client.endAsync(true);
      await broker.close();
    }
  });

  it('tells when a local client subscribes to commands, and not for other subscriptions', async () => {
    let told = 0;
    const broker = await startLocalBroker({
      dataDir: dir,
      forward: async () => {},
      onCommandSubscriber: () => told++,
    });
    // Before any client connected, commands have nobody to go to: delivering them is a no-op.
    await broker.publish('commands/ns/c/f', Buffer.from('{}'));
    const client = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
    try {
      await client.subscribeAsync('telemetry/#', { qos: 1 });
      assert.equal(told, 0);
      await client.subscribeAsync('commands/ns/+/f', { qos: 1 });
      assert.equal(told, 1);
    } finally {
      await client.endAsync(true);
      await broker.close();
    }
  });
});

describe('filters that commands match', () => {
  it('are those under commands/, and + or # at the top, shared ones included', () => {
    for (const filter of ['commands/#', 'commands/ns/c/f', '#', '+/ns/#', '$share/g/commands/#'])
      assert.equal(matchesCommands(filter), true, filter);
    for (const filter of ['telemetry/#', 'acks/ns/c', 'command/#', '$share/g/status/#'])
      assert.equal(matchesCommands(filter), false, filter);
  });
});
