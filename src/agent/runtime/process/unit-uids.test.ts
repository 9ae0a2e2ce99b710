import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_UNIT_UIDS, UnitUids, unitUidRangeOf } from './unit-uids.ts';

/** The first subordinate range of /etc/subuid, if any (rootless podman's user has one once the agent created it). */
function firstSubuidRange(): { start: number; count: number } | undefined {
  const line = readFileSync('/etc/subuid', 'utf8').split('\n').find(Boolean);
  if (!line) return undefined;
  const [, start, count] = line.split(':').map(Number);
  return { start: start!, count: count! };
}

describe('unit uids', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'outpost-unit-uids-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('hands out each uid once, round the range, and a freed one only after the rest', async () => {
    const uids = new UnitUids(dir, { first: 2_000_000_000, count: 3 });
    const [a, b] = [await uids.allocate(), await uids.allocate()];
    assert.deepEqual([a, b], [2_000_000_000, 2_000_000_001]);
    uids.release(a);
    assert.equal(await uids.allocate(), 2_000_000_002, 'the freed uid waits for the rest of the range');
    assert.equal(await uids.allocate(), a, 'then comes round again');
    await assert.rejects(uids.allocate(), /no free unit uid/);
  });

  it('keeps its place across restarts and skips the uids adopted units hold', async () => {
    const first = new UnitUids(dir, { first: 2_100_000_000, count: 4 });
    assert.equal(await first.allocate(), 2_100_000_000);
    const next = new UnitUids(dir, { first: 2_100_000_000, count: 4 });
    next.use(2_100_000_001);
    assert.equal(await next.allocate(), 2_100_000_002);
  });

  it("never hands out a user's uid or one of a subordinate range", async (t) => {
    const taken = new UnitUids(dir, { first: 0, count: 2 });
    await assert.rejects(taken.allocate(), /no free unit uid/, 'root (0) and a system user (1) exist');
    const range = firstSubuidRange();
    // Nothing of an earlier run (such as rootless podman's user) is assumed: without a range, say so.
    if (!range) return t.skip('no subordinate range in /etc/subuid on this machine');
    const around = new UnitUids(dir, { first: range.start + range.count - 2, count: 4 });
    assert.equal(await around.allocate(), range.start + range.count);
  });

  it("gives two agents' runtime folders ranges apart, and never a uid that runs a process", async () => {
    const [a, b] = [
      unitUidRangeOf('/var/lib/outpost-a/process'),
      unitUidRangeOf('/var/lib/outpost-b/process'),
    ];
    assert.notEqual(a.first, b.first);
    for (const range of [a, b]) {
      assert.equal(range.count, DEFAULT_UNIT_UIDS.count);
      assert.ok(range.first >= DEFAULT_UNIT_UIDS.first && range.first + range.count <= 0x8000_0000);
    }
    // This test's own process runs as some uid: a range of that uid alone has nothing free.
    const own = process.getuid?.() ?? 0;
    await assert.rejects(new UnitUids(dir, { first: own, count: 1 }).allocate(), /no free unit uid/);
  });
});
