import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import {
  type ListOptions,
  type ListResult,
  type Render,
  type Store,
  type StoredObject,
  StoreError,
  type Watch,
  type WatchEvent,
  type WatchOptions,
  type WatchSink,
} from './store.ts';

/** One AES-256 key and the name that envelopes carry to find it again. */
export interface EncryptionKey {
  /** Letters, digits, `.`, `_` and `-` (it sits between colons in the envelope). */
  readonly name: string;
  /** 32 bytes. */
  readonly secret: Buffer;
}

/** What every encrypted value starts with; the key's name and a colon follow. */
export const ENVELOPE_PREFIX = 'k8s:enc:aesgcm:v1:';
/** Any envelope, of any scheme or version: a value starting so is never plain JSON. */
const ANY_ENVELOPE = 'k8s:enc:';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_NAME = /^[A-Za-z0-9._-]+$/;

/** A stored value could not be decrypted: wrong or missing key, or damaged data. Says nothing of the value. */
export class DecryptionError extends StoreError {
  override name = 'DecryptionError';
  constructor(
    readonly key: string,
    reason: string,
  ) {
    super(`unable to decrypt the stored value of ${key}: ${reason}`);
  }
}

export interface EncryptingStoreOptions {
  /** The store that holds the encrypted values. */
  readonly store: Store;
  /** Values of keys starting with one of these are encrypted on write ('' encrypts every key). */
  readonly prefixes: readonly string[];
  /** The first key encrypts; each key decrypts the values that name it (older keys, for rotation). */
  readonly keys: readonly EncryptionKey[];
}

/**
 * A {@link Store} that encrypts the values of some keys at rest, over another
 * store: AES-256-GCM with a random 96-bit nonce, the store key as associated
 * data (a value copied to another key does not decrypt), in a versioned
 * envelope `k8s:enc:aesgcm:v1:<key name>:<base64 nonce|ciphertext|tag>`.
 * Everything above it sees plain JSON: gets, lists (and their filters,
 * snapshot lists included), watch events (`value` and `prevValue`) and what
 * writes return. Values written before encryption was enabled (plain JSON)
 * still read, and are encrypted when next written.
 */
export class EncryptingStore implements Store {
  readonly #inner: Store;
  readonly #prefixes: readonly string[];
  readonly #writeKey: EncryptionKey;
  readonly #keys: ReadonlyMap<string, Buffer>;

  constructor(options: EncryptingStoreOptions) {
    const [writeKey] = options.keys;
    if (!writeKey) throw new Error('an EncryptingStore needs at least one key');
    for (const key of options.keys) {
      if (!KEY_NAME.test(key.name))
        throw new Error(`invalid encryption key name ${JSON.stringify(key.name)}`);
      if (key.secret.length !== 32) throw new Error(`encryption key ${key.name} must be 32 bytes`);
    }
    this.#inner = options.store;
    this.#prefixes = [...options.prefixes];
    this.#writeKey = writeKey;
    this.#keys = new Map(options.keys.map((key) => [key.name, key.secret]));
  }

  /**
   * Decrypts one encrypted value under each prefix, so that a wrong key is
   * found when the hub starts rather than on a client's read.
   * @throws DecryptionError
   */
  async verify(): Promise<void> {
    for (const prefix of this.#prefixes) {
      const { items } = await this.#inner.list({
        prefix,
        limit: 1,
        filter: (object) => object.value.startsWith(ANY_ENVELOPE),
      });
      for (const item of items) this.#open(item);
    }
  }

  currentRevision(): Promise<number> {
    return this.#inner.currentRevision();
  }

  compactedRevision(): Promise<number> {
    return this.#inner.compactedRevision();
  }

  count(prefix: string): Promise<number> {
    return this.#inner.count(prefix);
  }

  compact(revision: number): Promise<number> {
    return this.#inner.compact(revision);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }

  async get(key: string): Promise<StoredObject | undefined> {
    const stored = await this.#inner.get(key);
    return stored && this.#open(stored);
  }

  async list(options: ListOptions): Promise<ListResult> {
    const filter = options.filter;
    // The filter needs the plain object; what it decrypted is kept so that each value is decrypted once.
    const opened = new WeakMap<StoredObject, StoredObject>();
    const result = await this.#inner.list(
      filter
        ? {
            ...options,
            filter: (stored) => {
              const plain = this.#open(stored);
              opened.set(stored, plain);
              return filter(plain);
            },
          }
        : options,
    );
    return { ...result, items: result.items.map((item) => opened.get(item) ?? this.#open(item)) };
  }

  create(key: string, render: Render): Promise<StoredObject> {
    return this.#write(key, render, (sealed) => this.#inner.create(key, sealed));
  }

  update(key: string, expectedRevision: number, render: Render): Promise<StoredObject> {
    return this.#write(key, render, (sealed) => this.#inner.update(key, expectedRevision, sealed));
  }

  delete(key: string, expectedRevision: number, render: Render): Promise<StoredObject> {
    // The tombstone keeps the last state in the log: it is encrypted as any other value.
    return this.#write(key, render, (sealed) => this.#inner.delete(key, expectedRevision, sealed));
  }

  watch(options: WatchOptions, sink: WatchSink): Promise<Watch> {
    // A value that does not decrypt throws here, which ends the watch with that error.
    return this.#inner.watch(options, (events) => sink(events.map((event) => this.#openEvent(event))));
  }

  async #write(
    key: string,
    render: Render,
    write: (render: Render) => Promise<StoredObject>,
  ): Promise<StoredObject> {
    if (!this.#encrypts(key)) return write(render);
    let plain = '';
    const stored = await write((revision) => {
      plain = render(revision);
      return this.#seal(key, plain);
    });
    return { key: stored.key, revision: stored.revision, value: plain };
  }

  #encrypts(key: string): boolean {
    return this.#prefixes.some((prefix) => key.startsWith(prefix));
  }

  #seal(key: string, plain: string): string {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#writeKey.secret, nonce);
    cipher.setAAD(Buffer.from(key, 'utf8'));
    const sealed = Buffer.concat([nonce, cipher.update(plain, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `${ENVELOPE_PREFIX}${this.#writeKey.name}:${sealed.toString('base64')}`;
  }

  #open(stored: StoredObject): StoredObject {
    if (!stored.value.startsWith(ANY_ENVELOPE)) return stored;
    return { key: stored.key, revision: stored.revision, value: this.#decrypt(stored.key, stored.value) };
  }

  #openEvent(event: WatchEvent): WatchEvent {
    const value = event.value.startsWith(ANY_ENVELOPE) ? this.#decrypt(event.key, event.value) : event.value;
    if (event.prevValue === undefined) return value === event.value ? event : { ...event, value };
    const prevValue = event.prevValue.startsWith(ANY_ENVELOPE)
      ? this.#decrypt(event.key, event.prevValue)
      : event.prevValue;
    return value === event.value && prevValue === event.prevValue ? event : { ...event, value, prevValue };
  }

  #decrypt(key: string, value: string): string {
    if (!value.startsWith(ENVELOPE_PREFIX)) {
      throw new DecryptionError(key, 'it was written with an encryption scheme this version does not know');
    }
    const colon = value.indexOf(':', ENVELOPE_PREFIX.length);
    const name = value.slice(ENVELOPE_PREFIX.length, colon);
    const secret = colon === -1 ? undefined : this.#keys.get(name);
    if (!secret) {
      throw new DecryptionError(
        key,
        `it was encrypted with key ${JSON.stringify(name)}, which is not among the configured keys`,
      );
    }
    const sealed = Buffer.from(value.slice(colon + 1), 'base64');
    if (sealed.length < NONCE_BYTES + TAG_BYTES)
      throw new DecryptionError(key, 'the stored value is truncated');
    try {
      const decipher = createDecipheriv('aes-256-gcm', secret, sealed.subarray(0, NONCE_BYTES));
      decipher.setAAD(Buffer.from(key, 'utf8'));
      decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
      const body = sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES);
      return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
    } catch {
      throw new DecryptionError(
        key,
        `authentication failed with key ${JSON.stringify(name)}: the key is not the one the value was encrypted with, or the value is damaged`,
      );
    }
  }
}
