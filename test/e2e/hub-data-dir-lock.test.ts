/**
 * One hub per data dir: a second `outpost hub` on the folder a running hub
 * holds is refused before it writes anything (admin.kubeconfig keeps pointing
 * at the running hub), and after a kill -9 the next hub takes the dead one's
 * record over.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { type HubProcess, kubectl, OUTPOST_BIN, removeDir, run, startHubProcess } from '../support/index.ts';

describe('the hub data dir lock', () => {
  const hubs: HubProcess[] = [];
  after(async () => {
    for (const hub of hubs) await hub.stop();
    if (hubs[0]) await removeDir(hubs[0].dataDir);
  });

  it('refuses a second hub on a held data dir with one clear line, leaving the running hub and its kubeconfig alone', async () => {
    const first = await startHubProcess();
    hubs.push(first);
    const kubeconfig = await readFile(first.kubeconfig, 'utf8');
    const second = await run(
      process.execPath,
      [OUTPOST_BIN, 'hub', '--data-dir', first.dataDir, '--listen', '127.0.0.1:0'],
      { timeoutMs: 60_000 },
    );
    assert.equal(second.code, 1, second.stderr);
    assert.equal(second.stdout, '', 'it never listened');
    assert.equal(
      second.stderr.trim(),
      `outpost: another hub (pid ${first.process.pid}) runs with the data dir ${first.dataDir}: stop it first, or give this hub a data dir of its own (--data-dir)`,
    );
    assert.equal(await readFile(first.kubeconfig, 'utf8'), kubeconfig, 'admin.kubeconfig untouched');
    const alive = await kubectl(first, ['get', 'namespaces', '-o', 'name']);
    assert.equal(alive.code, 0, alive.stderr);
    assert.match(alive.stdout, /namespace\/default/);
  });

  it('takes over the record of a hub killed with SIGKILL', async () => {
    const first = hubs[0]!;
    const record = JSON.parse(await readFile(join(first.dataDir, 'hub.pid'), 'utf8')) as { pid: number };
    assert.equal(record.pid, first.process.pid);
    await first.stop('SIGKILL');
    // The record of the dead hub is still there: nothing removed it.
    assert.equal(
      (JSON.parse(await readFile(join(first.dataDir, 'hub.pid'), 'utf8')) as { pid: number }).pid,
      first.process.pid,
    );
    const next = await startHubProcess({ dataDir: first.dataDir });
    hubs.push(next);
    assert.match(await readFile(next.kubeconfig, 'utf8'), new RegExp(`server: ${next.url}`));
    const alive = await kubectl(next, ['get', 'namespaces', '-o', 'name']);
    assert.equal(alive.code, 0, alive.stderr);
    // A clean stop gives the data dir back: the record is gone.
    await next.stop();
    await assert.rejects(readFile(join(first.dataDir, 'hub.pid'), 'utf8'), /ENOENT/);
  });
});
