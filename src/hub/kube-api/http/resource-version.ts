/**
 * The `resourceVersion`, `resourceVersionMatch` and `timeoutSeconds` of reads (get, list, watch),
 * checked before anything is read or streamed, and the apiserver's wait for a resourceVersion the
 * hub has not reached yet: up to 3 s, then a 504 "Too large resource version" that tells the
 * client when to retry.
 */
import { delay } from '../../../util/index.ts';
import { type ApiError, errors } from '../errors.ts';
import type { ObjectService } from '../service/index.ts';
import type { Query } from './request-options.ts';

/** How long a read waits for a resourceVersion beyond the head, as the apiserver's watch cache. */
export const FUTURE_REVISION_WAIT_MS = 3000;

/** How often the head is read again while waiting. */
const POLL_MS = 50;

/** What a read's resourceVersion asks for. */
export interface ReadVersion {
  /** The revision named; undefined for none (the latest), 0 for "any". */
  readonly revision?: number;
  /** Exact: the state at `revision` (lists only); NotOlderThan (the default): at least it. */
  readonly match?: 'Exact' | 'NotOlderThan';
}

/**
 * The resourceVersion parameters of a read, checked as the apiserver's ValidateListOptions does.
 * @throws ApiError 400 for a resourceVersion that is not a revision, 422 (ListOptions) for a
 *   resourceVersionMatch that does not fit
 */
export function readVersionOf(query: Query, verb: 'get' | 'list' | 'watch'): ReadVersion {
  const text = query.resourceVersion;
  if (text !== undefined && text !== '' && !/^\d{1,15}$/.test(text))
    throw errors.badRequest(`invalid resource version: "${text}": must be a non-negative integer`);
  const revision = text === undefined || text === '' ? undefined : Number(text);
  const match = query.resourceVersionMatch;
  if (match === undefined || match === '' || verb === 'get')
    return revision === undefined ? {} : { revision };
  const problems: Array<{ reason: 'FieldValueForbidden' | 'FieldValueNotSupported'; message: string }> = [];
  const allowed = verb === 'watch' ? ['NotOlderThan'] : ['Exact', 'NotOlderThan'];
  if (!allowed.includes(match))
    problems.push({
      reason: 'FieldValueNotSupported',
      message: `Unsupported value: "${match}": supported values: ${allowed.map((value) => `"${value}"`).join(', ')}`,
    });
  if (verb === 'list' && revision === undefined)
    problems.push({
      reason: 'FieldValueForbidden',
      message: 'Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided',
    });
  if (verb === 'watch' && query.sendInitialEvents === undefined)
    problems.push({
      reason: 'FieldValueForbidden',
      message: 'Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided',
    });
  if (query.continue)
    problems.push({
      reason: 'FieldValueForbidden',
      message: 'Forbidden: resourceVersionMatch is forbidden when continue is provided',
    });
  if (match === 'Exact' && revision === 0)
    problems.push({
      reason: 'FieldValueForbidden',
      message: 'Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
    });
  if (problems.length > 0)
    throw errors.invalid(
      { group: 'meta.k8s.io', kind: 'ListOptions' },
      '',
      problems.map((problem) => ({ ...problem, field: 'resourceVersionMatch' })),
    );
  return { ...(revision === undefined ? {} : { revision }), match: match as ReadVersion['match'] };
}

/**
 * A watch's `timeoutSeconds`: undefined when absent, else a whole number of seconds.
 * @throws ApiError 400 for anything else
 */
export function timeoutSecondsOf(query: Query): number | undefined {
  const text = query.timeoutSeconds;
  if (text === undefined || text === '') return undefined;
  if (!/^\d{1,9}$/.test(text))
    throw errors.badRequest(`timeoutSeconds: Invalid value: "${text}": must be a non-negative integer`);
  return Number(text);
}

/**
 * Resolves once the store's head has reached `revision` (at once when it has, or for none or
 * 0); a hub that does not get there within {@link FUTURE_REVISION_WAIT_MS} answers as the
 * apiserver's watch cache does. Stops waiting when `signal` aborts (the client left).
 * @throws ApiError 504 (Timeout, cause ResourceVersionTooLarge, retry after 1 s)
 */
export async function waitForRevision(
  service: Pick<ObjectService, 'currentRevision'>,
  revision: number | undefined,
  signal: AbortSignal,
  waitMs = FUTURE_REVISION_WAIT_MS,
): Promise<void> {
  if (!revision) return;
  const deadline = Date.now() + waitMs;
  for (;;) {
    const head = await service.currentRevision();
    if (head >= revision) return;
    if (Date.now() >= deadline || signal.aborted) throw tooLarge(revision, head);
    await delay(POLL_MS, signal).catch(() => undefined);
  }
}

function tooLarge(revision: number, head: number): ApiError {
  return errors.timeout(`Too large resource version: ${revision}, current: ${head}`, {
    retryAfterSeconds: 1,
    causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
  });
}
