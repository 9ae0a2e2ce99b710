/**
 * `npm start`: the demo brings up hub, PLC simulator, agent and connector,
 * prints live values within 30 s, and Ctrl-C (SIGINT) stops all of it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { waitFor } from '../support/index.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

/** Pids of live processes whose command line or working directory mentions `dir`. */
async function processesUsing(dir: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.replaceAll('\0', ' ').includes(dir)) found.push(pid);
  }
  return found;
}

describe('npm start', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('prints live Temperature and Pressure values within 30 s and stops everything on Ctrl-C', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'outpost-demo-'));
    dirs.push(dir);
    // What `npm start` runs, with the demo's folder in a temp dir.
    const demo = spawn(process.execPath, ['--import', 'tsx', 'src/demo/main.ts'], {
      cwd: ROOT,
      env: { ...process.env, OUTPOST_DEMO_DIR: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    demo.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    demo.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    const exited = new Promise<number | null>((resolve) => demo.once('exit', (code) => resolve(code)));
    try {
      await waitFor('the hub line', () => /hub listening on https:\/\/127\.0\.0\.1:\d+/.test(out), 60_000);
      assert.match(out, /admin kubeconfig: \S+admin\.kubeconfig/);
      // Values arrive within 30 s of the hub being up (the simulator, the agent's enrollment and
      // the connector's start all happen in that time).
      await waitFor(
        'live values',
        () => /demo-gateway {2}default\/line-1 {2}.*pressure=\d.*temperature=\d/.test(out),
        30_000,
      ).catch((error: Error) => assert.fail(`${error.message}; the demo printed:\n${out}`));
      assert.ok((await processesUsing(dir)).length > 0, 'the demo runs processes of its own');
    } finally {
      demo.kill('SIGINT');
    }
    assert.equal(await exited, 0, out);
    assert.match(out, /demo stopped/);
    assert.deepEqual(await processesUsing(dir), [], 'no process of the demo is left');
  });
});
