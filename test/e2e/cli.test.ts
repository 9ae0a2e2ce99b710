import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { OUTPOST_BIN, removeDir, run, startHubProcess, tempDir } from '../support/index.ts';

const outpost = (args: string[]) => run(process.execPath, [OUTPOST_BIN, ...args]);

/** The least CPU time (user + system, seconds) of three runs of `command`, as bash's `times` reports a child's. */
async function cpuSeconds(command: string): Promise<number> {
  let least = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 3; i++) {
    const { stdout } = await run('bash', ['-c', `${command} >/dev/null 2>&1; times`]);
    const children = stdout.trim().split('\n')[1] ?? '';
    const [user = 0, system = 0] = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map(
      ([, minutes, seconds]) => Number(minutes) * 60 + Number(seconds),
    );
    least = Math.min(least, user + system);
  }
  return least;
}

describe('the outpost command line', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await removeDir(dir);
  });

  it('prints usage for the program and for every command', async () => {
    const top = await outpost(['--help']);
    assert.equal(top.code, 0);
    assert.match(top.stdout, /Usage: outpost/);
    assert.match(top.stdout, /hub/);
    const hub = await outpost(['hub', '--help']);
    assert.equal(hub.code, 0);
    assert.match(hub.stdout, /--data-dir/);
    assert.match(hub.stdout, /--listen/);
  });

  it('answers --help and a mistyped command at once: commander alone loads, not the hub or the agent', async () => {
    const typo = await outpost(['hbu']);
    assert.equal(typo.code, 1);
    assert.match(typo.stderr, /unknown command 'hbu'\n\(Did you mean hub\?\)/);
    // CPU time, which a loaded machine does not inflate as it does wall time: node's own start
    // is the baseline, and help may cost at most 0.3 s over it (loading every command cost 1-3 s).
    const node = await cpuSeconds(`${JSON.stringify(process.execPath)} -e 0`);
    for (const args of ['--help', 'hbu', 'hub --help', 'agent --data-dir']) {
      const seconds = await cpuSeconds(
        `${JSON.stringify(process.execPath)} ${JSON.stringify(OUTPOST_BIN)} ${args}`,
      );
      assert.ok(
        seconds - node < 0.3,
        `outpost ${args}: ${seconds.toFixed(2)} s of CPU (node alone: ${node.toFixed(2)} s)`,
      );
    }
  });

  it('reports a bad option as one line and a non-zero exit, without a stack trace', async () => {
    const dir = await tempDir();
    dirs.push(dir);
    const result = await outpost(['hub', '--data-dir', dir, '--listen', 'nowhere']);
    assert.notEqual(result.code, 0);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, /--listen must be HOST:PORT/);
    assert.doesNotMatch(result.stderr, /\n\s+at /);
  });

  it('refuses to start on a database written by a newer Outpost, saying so', async () => {
    const dir = await tempDir();
    dirs.push(dir);
    const db = new Database(join(dir, 'outpost.db'));
    db.exec(
      `CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID; INSERT INTO meta VALUES ('schema', 99)`,
    );
    db.close();
    const result = await outpost(['hub', '--data-dir', dir, '--listen', '127.0.0.1:0']);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /schema version 99 is newer than this hub understands/);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
  });

  it('starts a hub that prints its real port and writes an admin kubeconfig kubectl can use', async () => {
    const hub = await startHubProcess();
    dirs.push(hub.dataDir);
    try {
      assert.match(hub.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      assert.doesNotMatch(hub.url, /:0$/);
      const result = await run('kubectl', [
        '--kubeconfig',
        hub.kubeconfig,
        'get',
        'namespaces',
        '-o',
        'name',
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /namespace\/default/);
    } finally {
      await hub.stop();
    }
  });

  it('finds an unwritable data dir and says which', async () => {
    const dir = await tempDir();
    dirs.push(dir);
    const file = join(dir, 'not-a-dir');
    await writeFile(file, 'x');
    const result = await outpost(['hub', '--data-dir', file, '--listen', '127.0.0.1:0']);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /not-a-dir/);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
  });
});
