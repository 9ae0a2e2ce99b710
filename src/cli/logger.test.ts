import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createLogger, formatLogLine } from './logger.ts';

describe('the CLI logger', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  /** Logs through a logger of `format` into a file and returns what was written. */
  async function written(format: 'text' | 'json', log: (logger: ReturnType<typeof createLogger>) => void) {
    const dir = await mkdtemp(join(tmpdir(), 'outpost-logger-'));
    dirs.push(dir);
    const path = join(dir, 'log');
    const fd = openSync(path, 'w');
    log(createLogger({ level: 'trace', format, fd }));
    closeSync(fd);
    return readFileSync(path, 'utf8');
  }

  it('never writes tokens, keys, passwords or authorization headers, in either format', async () => {
    for (const format of ['json', 'text'] as const) {
      const out = await written(format, (logger) => {
        logger.info({ token: 'abcdef.0123456789abcdef', device: 'gw-1' }, 'enrolling');
        logger.warn({ err: { message: 'refused', password: 'hunter2' } }, 'login failed');
        logger.debug({ req: { method: 'GET', headers: { authorization: 'Bearer s3cr3t' } } }, 'request');
        logger.error({ keyPem: '-----BEGIN PRIVATE KEY-----', secret: 'xyz' }, 'renewal');
      });
      for (const secret of ['0123456789abcdef', 'hunter2', 's3cr3t', 'PRIVATE KEY', 'xyz'])
        assert.doesNotMatch(out, new RegExp(secret), `${format}: ${secret} was written:\n${out}`);
      assert.match(out, /gw-1/, 'other fields stay');
      assert.match(out, /\[redacted\]/);
    }
  });

  it('writes one JSON object per line in the json format', async () => {
    const out = await written('json', (logger) =>
      logger.warn({ hub: 'https://h:1' }, 'cannot reach the hub'),
    );
    const entry = JSON.parse(out.trim()) as Record<string, unknown>;
    assert.equal(entry.msg, 'cannot reach the hub');
    assert.equal(entry.hub, 'https://h:1');
    assert.equal(entry.level, 40);
  });

  it('writes time, level, message and fields as one readable line in the text format', async () => {
    const out = await written('text', (logger) =>
      logger.warn(
        { hub: 'https://h:1', reason: 'nothing listens at h:1', retryInSeconds: 1 },
        'cannot reach',
      ),
    );
    assert.match(
      out,
      /^\d\d:\d\d:\d\d WARN {2}cannot reach {2}hub=https:\/\/h:1 reason="nothing listens at h:1" retryInSeconds=1\n$/,
    );
  });

  it('shows an error by its message and quotes values that would break the line', () => {
    const line = formatLogLine(
      JSON.stringify({
        level: 50,
        time: 0,
        pid: 1,
        hostname: 'h',
        msg: 'failed',
        err: { type: 'Error', message: 'boom', stack: 'Error: boom\n    at x (y:1:2)' },
        note: 'two\nlines',
      }),
    );
    assert.equal(line.split('\n').length, 2, line);
    assert.match(line, /ERROR failed {2}err=boom note="two\\nlines"/);
    assert.doesNotMatch(line, /at x/);
  });
});
