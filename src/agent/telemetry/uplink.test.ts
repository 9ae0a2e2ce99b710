import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import { waitFor } from '../../../test/support/index.ts';
import type { DeviceCredentials } from '../enrollment/index.ts';
import { TelemetryOutbox } from './telemetry-outbox.ts';
import { mqttUrlOf, Uplink } from './uplink.ts';

describe('hub MQTT address', () => {
  it('is the hub URL with the wss scheme and the /mqtt path', () => {
    assert.equal(mqttUrlOf('https://hub.example:6443'), 'wss://hub.example:6443/mqtt');
    assert.equal(mqttUrlOf('https://hub.example:6443/'), 'wss://hub.example:6443/mqtt');
  });
});

describe('hub MQTT connection', () => {
  /** Runs an uplink to a hub that refuses connections; counts its attempts (each reads the credentials). */
  async function withUplink(
    queued: number,
    body: (uplink: Uplink, attempts: () => number, outbox: TelemetryOutbox) => Promise<void>,
  ): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), 'outpost-uplink-'));
    const outbox = await TelemetryOutbox.open({ dir });
    for (let i = 0; i < queued; i++) await outbox.append('telemetry/ns/c/f', Buffer.from(String(i)));
    let attempts = 0;
    const uplink = new Uplink({
      device: 'd1',
      credentials: () => {
        attempts++;
        return { hubUrl: 'https://127.0.0.1:1' } as DeviceCredentials;
      },
      outbox,
      deliver: async () => {},
      backoff: { initialMs: 60_000, maxMs: 60_000 },
    });
    const stop = new AbortController();
    const running = uplink.run(stop.signal);
    try {
      await body(uplink, () => attempts, outbox);
    } finally {
      stop.abort();
      await running;
      await outbox.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('does not connect while there is nothing to send and no one wants commands', async () => {
    await withUplink(0, async (uplink, attempts) => {
      for (let i = 0; i < 20; i++) await turn();
      assert.equal(attempts(), 0);
      uplink.connect();
      await waitFor('a connection attempt', () => attempts() === 1);
    });
  });

  it('connects once a message is queued', async () => {
    await withUplink(0, async (_uplink, attempts, outbox) => {
      await outbox.append('telemetry/ns/c/f', Buffer.from('1'));
      await waitFor('a connection attempt', () => attempts() === 1);
    });
  });

  it('connects at once when messages were left in the outbox', async () => {
    await withUplink(2, async (_uplink, attempts) => {
      await waitFor('a connection attempt', () => attempts() === 1);
    });
  });
});
