import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { QueuedMessage } from './segment.ts';
import { TelemetryOutbox, type TelemetryOutboxOptions } from './telemetry-outbox.ts';

let dir: string;
const open = (options: Partial<TelemetryOutboxOptions> = {}) => TelemetryOutbox.open({ dir, ...options });
const payload = (n: number) => Buffer.from(JSON.stringify({ value: n, pad: 'x'.repeat(40) }));
const numberIn = (message: QueuedMessage) =>
  (JSON.parse(message.payload.toString()) as { value: number }).value;

/** Reads and acknowledges everything queued, in order. */
async function drain(outbox: TelemetryOutbox): Promise<QueuedMessage[]> {
  const all: QueuedMessage[] = [];
  for (;;) {
    const batch = await outbox.read(50);
    if (batch.length === 0) return all;
    for (const message of batch) outbox.ack(message.seq);
    all.push(...batch);
  }
}

describe('TelemetryOutbox', () => {
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'outpost-telemetry-outbox-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('hands messages out in the order they were appended, across segment files', async () => {
    const outbox = await open({ segmentBytes: 500 });
    const topics = ['telemetry/ns/c/temperature', 'acks/ns/c', 'telemetry/ns/c/pressure'];
    // Batches of appends arriving together (each batch one write), then one by one.
    for (let i = 0; i < 200; i += 20)
      await Promise.all(
        Array.from({ length: 20 }, (_, j) => outbox.append(topics[(i + j) % 3]!, payload(i + j))),
      );
    for (let i = 200; i < 300; i++) await outbox.append(topics[i % 3]!, payload(i));
    assert.ok(readdirSync(dir).filter((n) => n.endsWith('.seg')).length > 5, 'several segments');
    const read = await drain(outbox);
    assert.deepEqual(
      read.map(numberIn),
      Array.from({ length: 300 }, (_, i) => i),
    );
    assert.deepEqual(
      read.slice(0, 3).map((m) => [m.kind, m.topic]),
      [
        ['telemetry', topics[0]],
        ['acks', topics[1]],
        ['telemetry', topics[2]],
      ],
    );
    assert.equal(outbox.size, 0);
    await outbox.close();
  });

  it('refuses topics the hub does not take', async () => {
    const outbox = await open();
    await assert.rejects(outbox.append('commands/ns/c/x', payload(1)), /not forwarded/);
    await assert.rejects(outbox.append('other', payload(1)), /not forwarded/);
    await outbox.close();
  });

  it('sends what was not acknowledged again after a restart, and nothing acknowledged', async () => {
    let outbox = await open({ segmentBytes: 400 });
    for (let i = 0; i < 40; i++) await outbox.append('telemetry/ns/c/t', payload(i));
    const first = await outbox.read(15);
    for (const message of first) outbox.ack(message.seq);
    await outbox.close();

    outbox = await open({ segmentBytes: 400 });
    assert.equal(outbox.size, 25);
    await outbox.append('telemetry/ns/c/t', payload(40));
    const rest = await drain(outbox);
    assert.deepEqual(
      rest.map(numberIn),
      Array.from({ length: 26 }, (_, i) => i + 15),
    );
    await outbox.close();
    // Fully acknowledged segments are gone.
    outbox = await open({ segmentBytes: 400 });
    assert.equal(outbox.size, 0);
    assert.deepEqual(await outbox.read(10), []);
    assert.ok(readdirSync(dir).filter((n) => n.endsWith('.seg')).length <= 2);
    await outbox.close();
  });

  it('reads again after a rewind what was handed out and not acknowledged, skipping what was', async () => {
    const outbox = await open();
    for (let i = 0; i < 10; i++) await outbox.append('telemetry/ns/c/t', payload(i));
    const sent = await outbox.read(10);
    outbox.ack(sent[0]!.seq);
    outbox.ack(sent[3]!.seq); // out of order: acknowledged, yet not the prefix
    await outbox.rewind();
    const again = await drain(outbox);
    assert.deepEqual(again.map(numberIn), [1, 2, 4, 5, 6, 7, 8, 9]);
    assert.equal(outbox.size, 0);
    await outbox.close();
  });

  it('cuts off a torn last record left by an agent killed mid-write', async () => {
    let outbox = await open();
    for (let i = 0; i < 5; i++) await outbox.append('telemetry/ns/c/t', payload(i));
    await outbox.close();
    const segment = readdirSync(dir).find((n) => n.endsWith('.seg'))!;
    appendFileSync(join(dir, segment), Buffer.from([0, 0, 0, 90, 1, 2, 3]));
    outbox = await open();
    assert.deepEqual((await drain(outbox)).map(numberIn), [0, 1, 2, 3, 4]);
    await outbox.append('telemetry/ns/c/t', payload(5));
    assert.deepEqual((await drain(outbox)).map(numberIn), [5]);
    await outbox.close();
  });

  it('sends only the latest status of a topic', async () => {
    const outbox = await open();
    await outbox.append('status/ns/a', payload(1), true);
    await outbox.append('status/ns/b', payload(2), true);
    await outbox.append('telemetry/ns/a/t', payload(3));
    await outbox.append('status/ns/a', payload(4), true);
    const read = await drain(outbox);
    assert.deepEqual(read.map(numberIn), [2, 3, 4]);
    assert.ok(read.filter((m) => m.kind === 'status').every((m) => m.retain));
    assert.equal(outbox.size, 0);
    await outbox.close();
  });

  it('when full, drops the oldest telemetry first, never acks, logs it once and stays within its bound', async () => {
    const warnings: string[] = [];
    const log = {
      info: () => {},
      warn: (_: unknown, message: string) => void warnings.push(message),
    } as unknown as TelemetryOutboxOptions['log'];
    const maxBytes = 20_000;
    const outbox = await open({ maxBytes, segmentBytes: 2000, ...(log ? { log } : {}) });
    for (let i = 0; i < 1000; i++) {
      await outbox.append(i % 10 === 0 ? 'acks/ns/c' : 'telemetry/ns/c/t', payload(i));
      assert.ok(outbox.bytes <= maxBytes + 2000 + 100, `bytes ${outbox.bytes} after ${i}`);
    }
    assert.deepEqual(warnings, ['telemetry outbox full: dropping the oldest telemetry']);
    const read = await drain(outbox);
    const values = read.map(numberIn);
    assert.deepEqual(
      values.filter((v) => v % 10 === 0),
      Array.from({ length: 100 }, (_, i) => i * 10),
      'every ack kept, in order',
    );
    const telemetry = values.filter((v) => v % 10 !== 0);
    assert.ok(telemetry.length < 900 && telemetry.length > 100, `${telemetry.length} telemetry kept`);
    assert.equal(telemetry.at(-1), 999, 'the newest telemetry kept');
    assert.deepEqual(
      telemetry,
      [...telemetry].sort((a, b) => a - b),
      'in order',
    );
    assert.deepEqual(
      values,
      [...values].sort((a, b) => a - b),
      'acks and telemetry in arrival order',
    );
    assert.equal(outbox.dropped, 900 - telemetry.length);
    await outbox.close();
  });

  it('bounds the number of messages too', async () => {
    const outbox = await open({ maxMessages: 100, segmentBytes: 1000 });
    for (let i = 0; i < 500; i++) await outbox.append('telemetry/ns/c/t', payload(i));
    assert.ok(outbox.size <= 100, `${outbox.size} queued`);
    const values = (await drain(outbox)).map(numberIn);
    assert.equal(values.at(-1), 499);
    assert.equal(values.length + outbox.dropped, 500);
    await outbox.close();
  });
});
