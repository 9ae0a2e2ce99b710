/**
 * Opening a file of an upload directory refuses every way out of it: a symlink as the file, a
 * hard link (to a file anywhere), a parent directory that is a symlink (as when a directory is
 * swapped for one between the scan and the open); a plain file opens.
 */
import assert from 'node:assert/strict';
import { link, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { openInside, UnsafeFileError } from './safe-open.ts';
import { scanDir } from './scan.ts';

let root: string;
let dir: string;
let outside: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'outpost-safe-open-'));
  dir = join(root, 'upload');
  outside = join(root, 'outside');
  await mkdir(dir);
  await mkdir(outside);
  await writeFile(join(outside, 'secret'), 'secret');
  await writeFile(join(outside, 'other'), 'other');
  await writeFile(join(dir, 'plain.csv'), '1,2');
  await symlink(join(outside, 'secret'), join(dir, 'link'));
  await link(join(outside, 'secret'), join(dir, 'hard'));
  await symlink(outside, join(dir, 'swapped'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

test('opens a plain file', async () => {
  const file = await openInside(dir, join(dir, 'plain.csv'));
  assert.equal(file.size, 3);
  await file.handle.close();
});

for (const [name, path, why] of [
  ['a symlink', 'link', /a symbolic link/],
  ['a hard link', 'hard', /a hard link \(2 names\)/],
  [
    'a file under a directory swapped for a symlink',
    'swapped/other',
    /resolves outside the upload directory/,
  ],
] as const)
  test(`refuses ${name}`, async () => {
    await assert.rejects(openInside(dir, join(dir, path)), (error: Error) => {
      assert.ok(error instanceof UnsafeFileError);
      assert.match(error.message, why);
      return true;
    });
  });

test('the scan lists regular files and reports symlinks without entering them', async () => {
  const { files, symlinks } = await scanDir(dir);
  assert.deepEqual(files.map((f) => f.relative).sort(), ['hard', 'plain.csv']);
  assert.deepEqual(symlinks.map((p) => p.slice(dir.length + 1)).sort(), ['link', 'swapped']);
});
