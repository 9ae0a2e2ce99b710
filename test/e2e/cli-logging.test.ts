/**
 * The logs of `outpost hub` and `outpost agent`: readable text when stderr
 * is a terminal, JSON lines otherwise, `--log-format` to choose; and never a
 * secret (the bootstrap token given on the command line, keys), even at the
 * most talkative level.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  OUTPOST_BIN,
  removeDir,
  run,
  startAgent,
  startHubProcess,
  tempDir,
  waitFor,
} from '../support/index.ts';

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const hasScript = (() => {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('outpost logs', () => {
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  after(async () => {
    for (const child of children) {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }
    for (const dir of dirs) await removeDir(dir);
  });

  /**
   * Starts an agent that cannot reach its hub and returns what it printed once its first
   * warning is out; `terminal` runs it under script(1), whose pseudo-terminal is its stderr.
   */
  async function firstWarning(extra: readonly string[], terminal: boolean): Promise<string> {
    const dir = await tempDir();
    dirs.push(dir);
    const args = [
      OUTPOST_BIN,
      ...['agent', '--data-dir', join(dir, 'agent'), '--hub', `https://127.0.0.1:${await closedPort()}`],
      ...['--token', 'abcdef.0123456789abcdef', ...extra],
    ];
    const quoted = [process.execPath, ...args].map((arg) => `'${arg}'`).join(' ');
    const child = terminal
      ? spawn('script', ['-qfec', quoted, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
      : spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    children.push(child);
    let out = '';
    const add = (chunk: string) => {
      out += chunk;
    };
    child.stdout!.setEncoding('utf8').on('data', add);
    child.stderr!.setEncoding('utf8').on('data', add);
    await waitFor('the first warning', () => /cannot reach the hub to enroll/.test(out), 60_000).catch(
      (error: Error) => assert.fail(`${error.message}: ${out}`),
    );
    process.kill(-child.pid!, 'SIGKILL');
    return out.replaceAll('\r', '');
  }

  it('writes JSON lines when stderr is not a terminal', async () => {
    const out = await firstWarning([], false);
    const entry = JSON.parse(out.trim().split('\n')[0]!) as Record<string, unknown>;
    assert.equal(entry.level, 40);
    assert.match(String(entry.msg), /cannot reach the hub to enroll/);
  });

  it('writes readable text lines when stderr is a terminal, and JSON when --log-format json says so', async (t) => {
    if (!hasScript) return t.skip('script(1) is not installed: no pseudo-terminal to run under');
    assert.match(await firstWarning([], true), /^\d\d:\d\d:\d\d WARN {2}cannot reach the hub to enroll/m);
    const json = await firstWarning(['--log-format', 'json'], true);
    assert.match(json, /^\{"level":40,.*"msg":"cannot reach the hub to enroll/m);
  });

  it('refuses an unknown --log-format or --log-level in one line', async () => {
    const format = await run(process.execPath, [
      OUTPOST_BIN,
      'hub',
      '--data-dir',
      '/tmp/x',
      '--log-format',
      'xml',
    ]);
    assert.notEqual(format.code, 0);
    assert.match(
      format.stderr,
      /option '--log-format <format>' argument 'xml' is invalid. Allowed choices are text, json/,
    );
    const level = await run(process.execPath, [
      OUTPOST_BIN,
      'agent',
      '--data-dir',
      '/tmp/x',
      '--log-level',
      'loud',
    ]);
    assert.notEqual(level.code, 0);
    assert.match(level.stderr, /argument 'loud' is invalid/);
  });

  it('never writes the bootstrap token or a key, at debug and trace level', async () => {
    const hub = await startHubProcess({ args: ['--log-level', 'debug'] });
    dirs.push(hub.dataDir);
    const agentDir = await tempDir();
    dirs.push(agentDir);
    let hubLog = '';
    let agentLog = '';
    try {
      const created = await run(process.execPath, [
        OUTPOST_BIN,
        'token',
        'create',
        '--data-dir',
        hub.dataDir,
      ]);
      assert.equal(created.code, 0, created.stderr);
      const token = created.stdout.trim();
      const agent = await startAgent({
        hubUrl: hub.url,
        token, // on the command line, as a person would first type it
        dataDir: agentDir,
        name: 'secret-check',
        args: ['--log-level', 'trace', '--log-format', 'json'],
      });
      agentLog = agent.stderr();
      await agent.stop();
      agentLog = agent.stderr();
      const secrets = [
        token.split('.')[1]!,
        'PRIVATE KEY',
        (await readFile(join(hub.dataDir, 'encryption.key'), 'utf8')).trim(),
        /client-key-data: (\S+)/.exec(await readFile(join(agentDir, 'kubeconfig'), 'utf8'))![1]!,
      ];
      hubLog = hub.stderr();
      assert.ok(agentLog.length > 0 && hubLog.length > 0, 'both logged something');
      for (const secret of secrets) {
        assert.ok(!agentLog.includes(secret), `the agent logged a secret (${secret.slice(0, 12)}...)`);
        assert.ok(!hubLog.includes(secret), `the hub logged a secret (${secret.slice(0, 12)}...)`);
      }
    } finally {
      await hub.stop();
    }
  });
});
