/**
 * The object path validator refuses traversal in every form the issue lists, each with a message
 * naming the problem, and accepts plain relative paths (including non-ASCII names).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkObjectPath, ObjectPathError, objectKey, objectPathProblem } from './object-path.ts';

/** What UTF-8 bytes decode to in Node (as a JSON body or a file name read by the agent). */
const utf8 = (bytes: number[]) => Buffer.from(bytes).toString('utf8');

const REFUSED: Array<[string, string, RegExp]> = [
  ['empty', '', /empty/],
  ['parent segment', '../etc/passwd', /"\.\." segment/],
  ['parent segment inside', 'a/../../b', /"\.\." segment/],
  ['parent segment at the end', 'a/..', /"\.\." segment/],
  ['dot segment', 'a/./b', /"\." segment/],
  ['absolute', '/etc/passwd', /absolute/],
  ['double slash', 'a//b', /empty segments/],
  ['trailing slash', 'a/b/', /empty segments/],
  ['backslash', 'a\\..\\b', /backslash/],
  ['backslash alone', '..\\x', /backslash/],
  ['drive letter', 'C:/x', /drive/],
  ['NUL byte', 'a\0.csv', /NUL/],
  ['control character', 'a\nb', /control/],
  ['percent-encoded dots', '%2e%2e/x', /percent/],
  ['percent-encoded slash', 'a%2f..%2fb', /percent/],
  ['upper-case percent escape', '%2E%2E%2Fx', /percent/],
  ['double-encoded dots', '%252e%252e/x', /percent/],
  ['overlong dot (C0 AE)', utf8([0xc0, 0xae, 0xc0, 0xae, 0x2f, 0x78]), /UTF-8/],
  ['overlong slash (E0 80 AF)', `..${utf8([0xe0, 0x80, 0xaf])}x`, /UTF-8/],
  ['overlong slash (C0 AF)', `a${utf8([0xc0, 0xaf])}b`, /UTF-8/],
  ['lone surrogate', 'a\ud800b', /UTF-8/],
  ['fullwidth solidus', 'a\uff0f..\uff0fb', /lookalike/],
  ['division slash', '..\u2215x', /lookalike/],
  ['fraction slash', '..\u2044x', /lookalike/],
  ['fullwidth full stop', '\uff0e\uff0e/x', /lookalike/],
  ['one dot leader', '\u2024\u2024/x', /lookalike/],
  ['two dot leader', '\u2025/x', /lookalike/],
  ['small full stop', '\ufe52\ufe52/x', /lookalike/],
  ['fullwidth reverse solidus', 'a\uff3cb', /lookalike/],
  ['big solidus', 'a\u29f8b', /lookalike/],
  ['too long', `${'a/'.repeat(400)}b`, /at most/],
  ['segment too long', 'x'.repeat(256), /at most/],
];

for (const [name, path, message] of REFUSED)
  test(`refuses ${name}`, () => {
    const problem = objectPathProblem(path);
    assert.ok(problem, `${JSON.stringify(path)} was accepted`);
    assert.match(problem, message);
    assert.throws(() => checkObjectPath(path), ObjectPathError);
  });

const ACCEPTED = [
  'a.csv',
  'day/2026-12-07/run.1.json',
  '..a/b..',
  '.hidden',
  'données/été.txt',
  '日本/データ.bin',
  'a%b',
  '50%.txt',
];

for (const path of ACCEPTED)
  test(`accepts ${JSON.stringify(path)}`, () => {
    assert.equal(objectPathProblem(path), undefined);
  });

test('an object key is devices/DEVICE/NAMESPACE/WORKLOAD/PATH, built only from an accepted path', () => {
  assert.equal(objectKey('gw-1', 'team-a', 'logger', 'x/y.csv'), 'devices/gw-1/team-a/logger/x/y.csv');
  assert.throws(() => objectKey('gw-1', 'team-a', 'logger', '../../gw-2/x'), /"\.\." segment/);
});
