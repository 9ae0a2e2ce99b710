/**
 * The nested-levels harness (test/support/levels.ts) isolates what it says:
 * a TCP server in each level (and the root namespace) is reached from the
 * level just below and from nowhere further down, and `remove()` leaves no
 * namespace and no process behind.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { canBuildLevels, createLevels, type Levels } from '../support/index.ts';

describe('three network levels in namespaces', {
  skip: !canBuildLevels() && 'needs root and ip netns',
  timeout: 120_000,
}, () => {
  let levels: Levels;
  let hubSide: Server;
  let port: number;

  before(async () => {
    levels = await createLevels();
    hubSide = createServer((socket) => socket.end());
    await new Promise<void>((resolve) => hubSide.listen(0, levels.hubAddress, resolve));
    port = (hubSide.address() as { port: number }).port;
  });

  after(async () => {
    await levels?.remove();
    hubSide?.close();
  });

  it('lets each level reach only the level above', async () => {
    const { levels: l, hubAddress } = levels;
    assert.equal(await levels.reach(4, hubAddress, port), 'ok');
    assert.equal(await levels.reach(3, hubAddress, port), 'ENETUNREACH');
    assert.equal(await levels.reach(2, hubAddress, port), 'ENETUNREACH');
    assert.equal(await levels.reach(2, l[4].downAddress, port), 'ENETUNREACH');
    // Level 3 reaches level 4's lower end (nothing listens on this port there: refused, not unreachable).
    assert.equal(await levels.reach(3, l[4].downAddress, port), 'ECONNREFUSED');
    assert.equal(await levels.reach(2, l[3].downAddress, port), 'ECONNREFUSED');
  });

  it('asks a proxy to CONNECT from inside a level', async () => {
    // Nothing listens there: the probe says so rather than hanging.
    assert.equal(
      await levels.proxyConnect(3, `${levels.levels[4].downAddress}:3128`, 'hub:443'),
      'ECONNREFUSED',
    );
  });

  it('cuts and restores a level', async () => {
    await levels.setUplink(4, false);
    assert.notEqual(await levels.reach(4, levels.hubAddress, port), 'ok');
    await levels.setUplink(4, true);
    assert.equal(await levels.reach(4, levels.hubAddress, port), 'ok');
  });

  it('removes every namespace and the processes inside', async () => {
    const sleeper = levels.exec(2, 'sleep', ['600']);
    const name = levels.levels[2].netns;
    for (let i = 0; i < 100 && !execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }).trim(); i++)
      await new Promise((resolve) => setTimeout(resolve, 100));
    await levels.remove();
    assert.notEqual((await sleeper).code, 0, 'the process inside was killed');
    const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    for (const level of [4, 3, 2] as const) assert.ok(!left.includes(levels.levels[level].netns), left);
  });
});
