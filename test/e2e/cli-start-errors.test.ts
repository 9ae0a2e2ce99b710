/**
 * `outpost hub` and `outpost agent` that cannot start say why in one line
 * naming the folder, the port or the URL, and what to do; they neither hang
 * nor leave a half-made data dir. An agent whose hub cannot be reached says
 * once, in plain words, what it tried and why it failed, then backs off.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import {
  type CommandResult,
  OUTPOST_BIN,
  removeDir,
  run,
  startHubProcess,
  tempDir,
  waitFor,
} from '../support/index.ts';

const outpost = (args: string[]) => run(process.execPath, [OUTPOST_BIN, ...args], { timeoutMs: 30_000 });

/** One line on stderr, a failure exit, no stack trace; returns the line. */
function oneLineError(result: CommandResult): string {
  assert.notEqual(result.code, 0, `expected a failure: ${result.stdout}${result.stderr}`);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, result.stderr);
  assert.doesNotMatch(result.stderr, /\n\s+at /);
  return lines[0]!;
}

/** A port nothing listens on (one the kernel just handed out and took back). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('outpost hub and outpost agent that cannot start', () => {
  const dirs: string[] = [];
  const immutable: string[] = [];
  const servers: Server[] = [];
  const children: ChildProcess[] = [];
  after(async () => {
    for (const child of children) child.kill('SIGKILL');
    for (const server of servers) server.close();
    for (const dir of immutable) execFileSync('chattr', ['-i', dir]);
    for (const dir of dirs) await removeDir(dir);
  });

  /**
   * A folder this user cannot write to: mode 0555, and for root (whom modes do not stop) the
   * immutable attribute; skips the test where neither holds (root on a file system without it).
   */
  async function readOnlyDir(t: TestContext): Promise<string | undefined> {
    const dir = await tempDir();
    dirs.push(dir);
    const folder = join(dir, 'read-only');
    await mkdir(folder);
    await chmod(folder, 0o555);
    if (process.getuid?.() !== 0) return folder;
    try {
      execFileSync('chattr', ['+i', folder], { stdio: 'ignore' });
      immutable.push(folder);
      return folder;
    } catch {
      t.skip('running as root where chattr +i is not available: no folder is read-only to root');
      return undefined;
    }
  }

  for (const command of ['hub', 'agent'] as const) {
    const extra = command === 'hub' ? ['--listen', '127.0.0.1:0'] : ['--hub', 'https://127.0.0.1:1'];

    it(`${command}: names a data dir that is not writable and what to do`, async (t) => {
      const folder = await readOnlyDir(t);
      if (!folder) return;
      const line = oneLineError(await outpost([command, '--data-dir', folder, ...extra]));
      assert.match(line, new RegExp(`--data-dir ${folder} is not writable: permission denied`));
      assert.match(line, /choose another --data-dir/);
    });

    it(`${command}: names a data dir that cannot be created, instead of hanging (/proc)`, async () => {
      const started = performance.now();
      const line = oneLineError(await outpost([command, '--data-dir', '/proc/outpost-test/data', ...extra]));
      assert.match(line, /--data-dir \/proc\/outpost-test\/data cannot be created: \/proc does not accept/);
      assert.ok(performance.now() - started < 30_000);
    });
  }

  it('hub: names the database it cannot open, with its folder', async () => {
    const dir = await tempDir();
    dirs.push(dir);
    await mkdir(join(dir, 'outpost.db')); // a folder where the database file belongs
    const line = oneLineError(await outpost(['hub', '--data-dir', dir, '--listen', '127.0.0.1:0']));
    assert.match(line, new RegExp(`cannot open the database in ${dir}: unable to open database file`));
  });

  it('hub: names a port in use and leaves no data dir behind', async () => {
    const server = createServer();
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const dir = await tempDir();
    dirs.push(dir);
    const dataDir = join(dir, 'new-hub');
    const line = oneLineError(await outpost(['hub', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`]));
    assert.match(line, new RegExp(`127\\.0\\.0\\.1:${port} is already in use`));
    assert.match(line, /choose another --listen/);
    assert.equal(existsSync(dataDir), false, 'the data dir was left behind');
  });

  it('hub: a second hub on a taken port says so, leaving the first one alone', async () => {
    const first = await startHubProcess();
    dirs.push(first.dataDir);
    try {
      const dir = await tempDir();
      dirs.push(dir);
      const port = new URL(first.url).port;
      const line = oneLineError(
        await outpost(['hub', '--data-dir', join(dir, 'second'), '--listen', `127.0.0.1:${port}`]),
      );
      assert.match(line, /already in use \(another hub\?\)/);
      assert.equal(existsSync(join(dir, 'second')), false);
    } finally {
      await first.stop();
    }
  });

  it('agent: refuses a hub URL that is not https:// in one line', async () => {
    const dir = await tempDir();
    dirs.push(dir);
    const line = oneLineError(
      await outpost([
        'agent',
        '--data-dir',
        dir,
        '--hub',
        'hub.example:6443',
        '--token',
        'abcdef.0123456789abcdef',
      ]),
    );
    assert.match(line, /--hub must be the hub's https:\/\/ URL/);
  });

  it('agent: refuses a bad --reserve-memory, --reserve-disk or --cgroups in one line each', async () => {
    const dir = await tempDir();
    dirs.push(dir);
    const cases: [string[], RegExp][] = [
      [
        ['--reserve-memory', 'lots'],
        /--reserve-memory: lots is neither a quantity of bytes \(256Mi, 1G\) nor a percentage \(10%\)/,
      ],
      [['--reserve-memory', '-1Gi'], /--reserve-memory: -1Gi is neither a quantity/],
      [['--reserve-disk', '100%'], /--reserve-disk: 100% leaves nothing for workloads/],
      [['--cgroups', 'v1'], /--cgroups must be auto or off, not v1/],
    ];
    for (const [flags, expected] of cases) {
      const line = oneLineError(await outpost(['agent', '--data-dir', dir, ...flags]));
      assert.match(line, expected);
    }
  });

  it('agent: says once, in plain words, which hub it could not reach and why, then backs off', async () => {
    const dir = await tempDir();
    dirs.push(dir);
    const port = await closedPort();
    const agent = spawn(
      process.execPath,
      [
        OUTPOST_BIN,
        ...['agent', '--data-dir', join(dir, 'agent'), '--hub', `https://127.0.0.1:${port}`],
        ...['--token', 'abcdef.0123456789abcdef', '--log-format', 'text'],
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(agent);
    let stderr = '';
    agent.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const line = await waitFor(
      'the first failure',
      () => stderr.split('\n').find((l) => /WARN/.test(l)),
      60_000,
    );
    assert.match(line, /cannot reach the hub to enroll: retrying with backoff/);
    assert.match(line, new RegExp(`hub=https://127\\.0\\.0\\.1:${port}`));
    assert.match(
      line,
      new RegExp(`reason="nothing listens at 127\\.0\\.0\\.1:${port} \\(connection refused\\)"`),
    );
    // The retries (the first within a second) are quiet: still that one line a few seconds on.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    assert.equal(stderr.trim().split('\n').length, 1, stderr);
    agent.kill('SIGTERM');
  });
});
