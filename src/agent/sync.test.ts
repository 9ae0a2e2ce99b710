import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pino from 'pino';
import { Backoff } from './backoff.ts';
import { type HubApi, HubUnreachableError } from './hub-client/index.ts';
import { type ConnectionState, MailboxSync } from './sync.ts';

describe('MailboxSync', () => {
  it('retries at once when another request reached the hub, instead of waiting out its backoff', {
    timeout: 60_000,
  }, async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'outpost-sync-'));
    const stop = new AbortController();
    let lists = 0;
    // The hub is away for the first list, then answers; the watch stays open until the test ends.
    const api = {
      deviceName: 'd1',
      request: async () => {
        lists += 1;
        if (lists === 1) throw new HubUnreachableError('cannot reach the hub');
        return { metadata: { resourceVersion: '5' }, items: [] };
      },
      watch: async function* (_path: string, signal: AbortSignal) {
        if (!signal.aborted)
          await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        yield* [];
      },
    } as unknown as HubApi;
    const states: ConnectionState[] = [];
    let connected: () => void = () => {};
    const reconnected = new Promise<void>((resolve) => {
      connected = resolve;
    });
    const sync = new MailboxSync({
      api,
      dataDir,
      log: pino({ level: 'silent' }),
      onMailbox: () => {},
      onState: (state) => {
        states.push(state);
        if (state === 'disconnected') setImmediate(() => sync.hubAnswered());
        if (state === 'connected') connected();
      },
      // An hour before a retry: only hubAnswered() can bring it back within the test's minute.
      backoff: new Backoff({ initialMs: 3_600_000, maxMs: 3_600_000, jitter: 0 }),
    });
    const running = sync.run(stop.signal);
    // Should the retry never come, the hour's timer must not keep the test process alive.
    const guard = setTimeout(() => stop.abort(), 60_000);
    try {
      await reconnected;
      assert.deepEqual(states, ['disconnected', 'connected']);
      assert.equal(lists, 2);
    } finally {
      clearTimeout(guard);
      stop.abort();
      await running;
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
