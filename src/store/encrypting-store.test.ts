import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { describeStoreConformance } from './conformance.ts';
import { doc, Recorder } from './conformance-support.ts';
import { DecryptionError, EncryptingStore, type EncryptionKey } from './encrypting-store.ts';
import { EncryptionKeyFileError, loadOrCreateEncryptionKeys, parseEncryptionKeys } from './encryption-key.ts';
import { SqliteStore } from './sqlite.ts';

const TEMP_ROOT = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
const KEY: EncryptionKey = { name: 'key1', secret: randomBytes(32) };
const MARKER = 'the-marker-never-stored-in-clear';

/** An EncryptingStore over a fresh SQLite file; `raw()` opens the same file without the key. */
async function openEncrypted(prefixes: readonly string[] = [''], keys: readonly EncryptionKey[] = [KEY]) {
  const dir = await mkdtemp(join(TEMP_ROOT, 'outpost-enc-'));
  const path = join(dir, 'store.db');
  let store = new EncryptingStore({ store: new SqliteStore({ path }), prefixes, keys });
  return {
    path,
    get store() {
      return store;
    },
    async reopen(withKeys: readonly EncryptionKey[] = keys) {
      await store.close();
      store = new EncryptingStore({ store: new SqliteStore({ path }), prefixes, keys: withKeys });
      return store;
    },
    async cleanup() {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function withEncrypted(
  body: (opened: Awaited<ReturnType<typeof openEncrypted>>) => Promise<void>,
  prefixes?: readonly string[],
): Promise<void> {
  const opened = await openEncrypted(prefixes);
  try {
    await body(opened);
  } finally {
    await opened.cleanup();
  }
}

/** Every value the SQLite file holds, log and current keys, as raw text. */
async function rawValues(path: string): Promise<string[]> {
  const raw = new SqliteStore({ path });
  try {
    const { items } = await raw.list({ prefix: '' });
    const recorder = new Recorder();
    const controller = new AbortController();
    await raw.watch(
      { prefix: '', afterRevision: await raw.compactedRevision(), signal: controller.signal },
      recorder.sink,
    );
    const head = await raw.currentRevision();
    await recorder.until((events) => events.at(-1)?.revision === head, 'the whole log');
    controller.abort();
    return [
      ...items.map((item) => item.value),
      ...recorder.events.flatMap((event) => [event.value, event.prevValue ?? '']),
    ];
  } finally {
    await raw.close();
  }
}

describeStoreConformance('SQLite under EncryptingStore', () => openEncrypted());

describe('EncryptingStore', () => {
  it('keeps values under its prefixes encrypted in the store and hands them out in clear', () =>
    withEncrypted(
      async ({ store, path }) => {
        const secret = await store.create('/core/secrets/ns/a', doc(MARKER));
        const updated = await store.update(secret.key, secret.revision, doc(`${MARKER}-2`));
        await store.create('/core/configmaps/ns/a', doc('plain-config'));
        assert.match(updated.value, new RegExp(`${MARKER}-2`));
        assert.deepEqual(await store.get(secret.key), updated);
        await store.delete(secret.key, updated.revision, doc(`${MARKER}-3`));
        const raw = await rawValues(path);
        assert.ok(raw.length >= 4);
        assert.ok(!raw.some((value) => value.includes(MARKER)), 'no value, tombstone or prevValue in clear');
        assert.ok(raw.some((value) => value.startsWith('k8s:enc:aesgcm:v1:key1:')));
        assert.ok(
          raw.some((value) => value.includes('plain-config')),
          'other prefixes stay plain',
        );
      },
      ['/core/secrets/'],
    ));

  it('decrypts for list filters, snapshot lists and watch events with their prevValue', () =>
    withEncrypted(async ({ store }) => {
      const a = await store.create('/s/a', doc('alpha'));
      await store.create('/s/b', doc('beta'));
      const seen: string[] = [];
      const filtered = await store.list({
        prefix: '/s/',
        filter: (object) => {
          seen.push(object.value);
          return object.value.includes('beta');
        },
      });
      assert.ok(
        seen.every((value) => value.startsWith('{')),
        'the filter sees plain JSON',
      );
      assert.deepEqual(
        filtered.items.map((item) => item.key),
        ['/s/b'],
      );
      const recorder = new Recorder();
      const controller = new AbortController();
      await store.watch(
        { prefix: '/s/', afterRevision: a.revision, signal: controller.signal },
        recorder.sink,
      );
      const a2 = await store.update('/s/a', a.revision, doc('alpha-2'));
      await recorder.until((events) => events.some((event) => event.revision === a2.revision), 'the update');
      controller.abort();
      const event = recorder.events.find((e) => e.revision === a2.revision)!;
      assert.match(event.value, /alpha-2/);
      assert.match(event.prevValue!, /"alpha"/);
      const snapshot = await store.list({ prefix: '/s/', revision: a.revision });
      assert.deepEqual(snapshot.items, [a]);
    }));

  it('reads values written before encryption was enabled, and encrypts them on their next write', async () => {
    const dir = await mkdtemp(join(TEMP_ROOT, 'outpost-enc-'));
    const path = join(dir, 'store.db');
    try {
      const plain = new SqliteStore({ path });
      const before = await plain.create('/s/old', doc(MARKER));
      await plain.close();
      const store = new EncryptingStore({ store: new SqliteStore({ path }), prefixes: ['/s/'], keys: [KEY] });
      try {
        assert.deepEqual(await store.get('/s/old'), before);
        await store.update('/s/old', before.revision, doc('rewritten'));
      } finally {
        await store.close();
      }
      const raw = new SqliteStore({ path });
      assert.match((await raw.get('/s/old'))!.value, /^k8s:enc:aesgcm:v1:key1:/);
      await raw.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses to read with a wrong key, naming the key and never answering garbage', () =>
    withEncrypted(async (opened) => {
      await opened.store.create('/s/a', doc(MARKER));
      const wrong = await opened.reopen([{ name: 'key1', secret: randomBytes(32) }]);
      await assert.rejects(wrong.get('/s/a'), (error: Error) => {
        assert.ok(error instanceof DecryptionError);
        assert.match(
          error.message,
          /unable to decrypt the stored value of \/s\/a: authentication failed with key "key1"/,
        );
        assert.doesNotMatch(error.message, new RegExp(MARKER));
        return true;
      });
      await assert.rejects(wrong.verify(), DecryptionError);
      const missing = await opened.reopen([{ name: 'key2', secret: randomBytes(32) }]);
      await assert.rejects(
        missing.list({ prefix: '/s/' }),
        /encrypted with key "key1", which is not among the configured keys/,
      );
    }));

  it('decrypts with an older key listed after the new one, and writes with the new one (rotation)', () =>
    withEncrypted(async (opened) => {
      const a = await opened.store.create('/s/a', doc('alpha'));
      const rotated = await opened.reopen([{ name: 'key2', secret: randomBytes(32) }, KEY]);
      await rotated.verify();
      assert.deepEqual(await rotated.get('/s/a'), a);
      await rotated.update('/s/a', a.revision, doc('alpha-2'));
      const raw = await rawValues(opened.path);
      assert.ok(raw.some((value) => value.startsWith('k8s:enc:aesgcm:v1:key2:')));
    }));
});

describe('encryption key file', () => {
  it('is created once with mode 0600 and read back the same afterwards', async () => {
    const dir = await mkdtemp(join(TEMP_ROOT, 'outpost-key-'));
    try {
      const path = join(dir, 'encryption.key');
      const [created] = await loadOrCreateEncryptionKeys(path, new Date('2025-03-04T00:00:00Z'));
      assert.equal(created!.name, 'key-20250304');
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      const again = await loadOrCreateEncryptionKeys(path);
      assert.deepEqual(again, [created]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a malformed key without echoing the line', async () => {
    const line = `key1:${randomBytes(16).toString('base64')}`;
    assert.throws(
      () => parseEncryptionKeys(line, 'FILE'),
      (error: Error) => {
        assert.ok(error instanceof EncryptionKeyFileError);
        assert.equal(error.message, 'FILE, line 1: expected NAME:BASE64 with a 32-byte (AES-256) key');
        return true;
      },
    );
    const dir = await mkdtemp(join(TEMP_ROOT, 'outpost-key-'));
    try {
      await writeFile(
        join(dir, 'k'),
        `# comment\n\nnew:${randomBytes(32).toString('base64')}\nold:${randomBytes(32).toString('base64')}\n`,
      );
      const keys = await loadOrCreateEncryptionKeys(join(dir, 'k'));
      assert.deepEqual(
        keys.map((key) => key.name),
        ['new', 'old'],
      );
      assert.match(await readFile(join(dir, 'k'), 'utf8'), /^# comment/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
