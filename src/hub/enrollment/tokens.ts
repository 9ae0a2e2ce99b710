/**
 * Checking bootstrap tokens and counting their uses. A use is recorded with a
 * resourceVersion precondition on the BootstrapToken's status, so two
 * enrollments (on one replica or several) can never both take the last use.
 */
import {
  type BootstrapToken,
  bootstrapTokenKind,
  type KubeObject,
  maxUsesOf,
  parseBootstrapToken,
  secretMatches,
} from '../../api/index.ts';
import { ApiError, type ObjectService, parse } from '../kube-api/index.ts';

const FIELD_MANAGER = 'outpost-enrollment';
/** What an unknown token's secret is compared with (no secret hashes to it). */
const UNKNOWN_TOKEN_HASH = `sha256:${'0'.repeat(64)}`;
/** Attempts at recording a use when other replicas keep winning the race. */
const MAX_ATTEMPTS = 20;

/** A token that passed every check, as read from the store. */
export interface ValidToken {
  readonly id: string;
  readonly spec: BootstrapToken['spec'];
  readonly object: KubeObject;
}

/** Refuses an enrollment for a token problem: 401 with a message naming it. */
export function tokenRefused(message: string): ApiError {
  return new ApiError(401, 'Unauthorized', message);
}

/**
 * Reads and checks bootstrap tokens, records and gives back their uses.
 * Uses of one token are recorded one after the other in this process (no
 * conflicts among its own requests); the precondition settles races with
 * other replicas.
 */
export class TokenBook {
  readonly #service: ObjectService;
  readonly #now: () => Date;
  readonly #queues = new Map<string, Promise<unknown>>();
  /** Uses asked for per token, waiting for the next write. */
  readonly #waiting = new Map<
    string,
    { resolve: (token: ValidToken) => void; reject: (error: unknown) => void }[]
  >();

  constructor(service: ObjectService, now: () => Date) {
    this.#service = service;
    this.#now = now;
  }

  /**
   * Checks a token: well formed, known, secret matching, not expired, uses left.
   * @throws ApiError 401 naming what is wrong (an unknown id and a wrong
   *   secret get the same answer, so ids cannot be probed).
   */
  async check(token: string): Promise<ValidToken> {
    const parts = parseBootstrapToken(token);
    if (!parts)
      throw tokenRefused('bootstrap token is malformed: expected <id>.<secret> ([a-z0-9]{6}.[a-z0-9]{16})');
    const object = await this.#read(parts.id);
    const spec = object?.spec as BootstrapToken['spec'] | undefined;
    // An unknown id costs the same comparison as a wrong secret: the answers do not tell them apart.
    const matches = secretMatches(parts.secret, spec?.secretHash ?? UNKNOWN_TOKEN_HASH);
    if (!object || !spec || !matches)
      throw tokenRefused('bootstrap token is not valid (unknown, revoked, or wrong secret)');
    if (object.metadata.deletionTimestamp) throw tokenRefused(`bootstrap token ${parts.id} has been revoked`);
    if (spec.expiration && Date.parse(spec.expiration) <= this.#now().getTime())
      throw tokenRefused(`bootstrap token ${parts.id} expired at ${spec.expiration}`);
    const uses = (object.status as BootstrapToken['status'])?.uses ?? 0;
    const maxUses = maxUsesOf(spec);
    if (uses >= maxUses)
      throw tokenRefused(
        `bootstrap token ${parts.id} has no uses left (${uses} of ${maxUses} used): ask for a new one (outpost token create; --max-uses N lets N devices enroll with one)`,
      );
    return { id: parts.id, spec, object };
  }

  /**
   * Records one use of a token, checking it again against the newest object.
   * Uses asked for while a write of the same token is in flight are granted
   * together in the next write (as a store's group commit), so a burst of
   * enrollments with one token is not limited to one store commit each.
   * @throws ApiError 401 when the token is no longer usable (its last use
   *   taken meanwhile, revoked, expired).
   */
  use(token: string): Promise<ValidToken> {
    const parts = parseBootstrapToken(token);
    if (!parts) return Promise.reject(tokenRefused('bootstrap token is malformed'));
    return new Promise<ValidToken>((resolve, reject) => {
      let batch = this.#waiting.get(token);
      if (!batch) {
        batch = [];
        this.#waiting.set(token, batch);
        // The id's queue runs one write at a time; everything that arrives meanwhile joins this batch.
        void this.#serial(parts.id, () => this.#grant(token)).catch(() => {});
      }
      batch.push({ resolve, reject });
    });
  }

  /** Grants the waiting uses of `token` in one write: as many as are left, refusing the rest. */
  async #grant(token: string): Promise<void> {
    const batch = this.#waiting.get(token) ?? [];
    this.#waiting.delete(token);
    try {
      for (let attempt = 1; ; attempt++) {
        const valid = await this.check(token);
        const status = (valid.object.status as BootstrapToken['status']) ?? {};
        const used = status.uses ?? 0;
        const maxUses = maxUsesOf(valid.spec);
        const granted = Math.min(batch.length, maxUses - used);
        try {
          await this.#writeStatus(valid.object, {
            ...status,
            uses: used + granted,
            lastUsedTime: this.#now()
              .toISOString()
              .replace(/\.\d+Z$/, 'Z'),
          });
        } catch (error) {
          if (isConflict(error) && attempt < MAX_ATTEMPTS) continue;
          throw error;
        }
        for (const [i, waiter] of batch.entries()) {
          if (i < granted) waiter.resolve(valid);
          else
            waiter.reject(
              tokenRefused(
                `bootstrap token ${valid.id} has no uses left (${maxUses} of ${maxUses} used): ask for a new one (outpost token create; --max-uses N lets N devices enroll with one)`,
              ),
            );
        }
        return;
      }
    } catch (error) {
      for (const waiter of batch) waiter.reject(error);
    }
  }

  /** Gives back a use recorded for an enrollment that then failed (best effort). */
  async release(id: string): Promise<void> {
    await this.#serial(id, async () => {
      for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        const object = await this.#read(id);
        const status = (object?.status as BootstrapToken['status']) ?? {};
        if (!object || !status.uses) return;
        try {
          await this.#writeStatus(object, { ...status, uses: status.uses - 1 });
          return;
        } catch (error) {
          if (!isConflict(error)) throw error;
        }
      }
    });
  }

  async #read(id: string): Promise<KubeObject | undefined> {
    try {
      return parse(await this.#service.get(bootstrapTokenKind, undefined, id));
    } catch (error) {
      if (error instanceof ApiError && error.code === 404) return undefined;
      throw error;
    }
  }

  async #writeStatus(object: KubeObject, status: NonNullable<BootstrapToken['status']>): Promise<void> {
    // metadata.resourceVersion pins the write to the object just read: a conflict means another use won.
    await this.#service.update(
      bootstrapTokenKind,
      undefined,
      object.metadata.name!,
      { ...object, status },
      { fieldManager: FIELD_MANAGER },
      'status',
    );
  }

  async #serial<T>(id: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(id) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.then(
      () => undefined,
      () => undefined,
    );
    this.#queues.set(id, settled);
    try {
      return await next;
    } finally {
      if (this.#queues.get(id) === settled) this.#queues.delete(id);
    }
  }
}

function isConflict(error: unknown): boolean {
  return error instanceof ApiError && error.code === 409;
}
