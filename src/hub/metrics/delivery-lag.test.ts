import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import type { KubeObject } from '../../api/index.ts';
import { DeliveryLag } from './delivery-lag.ts';

function mailbox(name: string, generation: number, observedGeneration?: number): KubeObject {
  return {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Mailbox',
    metadata: { name, generation },
    status: observedGeneration === undefined ? {} : { observedGeneration },
  };
}

async function series(registry: Registry, name: string): Promise<string[]> {
  return (await registry.metrics()).split('\n').filter((line) => line.startsWith(name));
}

describe('Mailbox delivery lag', () => {
  it('measures from a generation being written to its acknowledgement, in seconds', async () => {
    let now = 1_000_000;
    const registry = new Registry();
    const lag = new DeliveryLag(registry, () => now);
    const handler = lag.handler();
    const written = mailbox('gw-1', 2, 1);
    handler.onAdd?.(written);
    now += 3_000;
    assert.equal(lag.oldestUnacknowledgedSeconds(), 3);
    // A resync (the same object) changes nothing; a third generation waits beside the second.
    handler.onUpdate?.(written, written);
    const third = mailbox('gw-1', 3, 1);
    handler.onUpdate?.(written, third);
    now += 2_000;
    handler.onUpdate?.(third, mailbox('gw-1', 3, 3));
    assert.equal(lag.oldestUnacknowledgedSeconds(), 0);
    const lines = await series(registry, 'outpost_mailbox_delivery_lag_seconds');
    assert.ok(lines.includes('outpost_mailbox_delivery_lag_seconds_count 2'), lines.join('\n'));
    assert.ok(lines.includes('outpost_mailbox_delivery_lag_seconds_sum 7'), lines.join('\n'));
    assert.ok(lines.includes('outpost_mailbox_delivery_lag_seconds_bucket{le="2.5"} 1'), lines.join('\n'));
    assert.ok(lines.includes('outpost_mailbox_delivery_lag_seconds_bucket{le="5"} 2'), lines.join('\n'));
  });

  it('forgets deleted Mailboxes and what an earlier leadership term followed', async () => {
    let now = 0;
    const registry = new Registry();
    const lag = new DeliveryLag(registry, () => now);
    const first = lag.handler();
    first.onAdd?.(mailbox('a', 5, 4));
    first.onAdd?.(mailbox('b', 1));
    now += 10_000;
    assert.equal(lag.oldestUnacknowledgedSeconds(), 10);
    first.onDelete?.(mailbox('a', 5, 4));
    assert.equal(lag.oldestUnacknowledgedSeconds(), 10);
    lag.handler();
    assert.equal(lag.oldestUnacknowledgedSeconds(), 0);
    assert.deepEqual(await series(registry, 'outpost_mailbox_oldest_unacknowledged_seconds '), [
      'outpost_mailbox_oldest_unacknowledged_seconds 0',
    ]);
  });
});
