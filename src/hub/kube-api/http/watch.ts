import type { ServerResponse } from 'node:http';
import { apiVersionOf, type KindDefinition, type KubeObject } from '../../../api/index.ts';
import type { WatchEvent } from '../../../store/index.ts';
import { ApiError } from '../errors.ts';
import { type ListQuery, type ObjectService, objectMatcher } from '../service/index.ts';
import type { ResponseFormat } from './negotiation.ts';
import { fromStorage } from './stored-as.ts';
import { type IncludeObject, toTable } from './table.ts';

export interface WatchQuery extends ListQuery {
  readonly resourceVersion?: string;
  readonly allowWatchBookmarks?: boolean;
  readonly sendInitialEvents?: boolean;
  readonly timeoutSeconds?: number;
}

export interface WatchStreamOptions {
  /** How often to send a bookmark when the client allows them. @default 10_000 */
  readonly bookmarkIntervalMs?: number;
  /** Bytes a watcher may have unsent before it is dropped as too slow. @default 16 MiB */
  readonly maxBufferedBytes?: number;
}

type Serializer = (type: string, value: string, parsed?: KubeObject) => string;

/** How events are written: JSON or Tables, and in which kind's shape. */
export interface WatchFormat {
  readonly kind: ResponseFormat;
  readonly includeObject?: IncludeObject;
  /**
   * The kind asked for, when it is stored as the watched one (`storedAs`):
   * objects are converted to it. @default the watched kind
   */
  readonly as?: KindDefinition;
}

/**
 * Streams a watch as newline-delimited JSON events (`{"type":...,"object":...}`),
 * the way the apiserver does: initial ADDED events when asked (no
 * resourceVersion, `0`, or `sendInitialEvents`), then every later change in
 * order; a resourceVersion older than the compacted one ends in an ERROR event
 * carrying a 410 Status. Objects entering or leaving a selector are sent as
 * ADDED / DELETED. The caller has checked the query (selectors, resourceVersion, timeoutSeconds)
 * and waited for a resourceVersion beyond the head (`resource-version.ts`): what is wrong with a
 * request is answered before the stream starts.
 */
export async function streamWatch(
  service: ObjectService,
  def: KindDefinition,
  namespace: string | undefined,
  query: WatchQuery,
  format: WatchFormat,
  response: ServerResponse,
  options: WatchStreamOptions = {},
): Promise<void> {
  const matcher = objectMatcher(def, query);
  const requested = query.resourceVersion;
  // A malformed resourceVersion was refused before the stream started (resource-version.ts).
  const serialize = serializerFor(format.as ?? def, format);
  const controller = new AbortController();
  const maxBuffered = options.maxBufferedBytes ?? 16 * 1024 * 1024;

  response.writeHead(200, {
    'content-type':
      format.kind === 'table' ? 'application/json;as=Table;v=v1;g=meta.k8s.io' : 'application/json',
    'cache-control': 'no-cache, private',
  });
  response.flushHeaders();
  let lastRevision = 0;
  const write = (chunk: string) => {
    if (controller.signal.aborted) return;
    response.write(chunk);
    // A watcher that cannot keep up is dropped; it resumes from its last revision.
    if (response.writableLength > maxBuffered) finish();
  };
  const finish = () => {
    if (controller.signal.aborted) return;
    controller.abort();
    response.end();
  };
  response.on('close', () => controller.abort());

  const initial =
    requested === undefined || requested === '' || requested === '0' || query.sendInitialEvents === true;
  let afterRevision = Number(requested ?? 0);
  if (initial) {
    const list = await service.list(def, namespace, {
      labelSelector: query.labelSelector,
      fieldSelector: query.fieldSelector,
    });
    for (const item of list.items) write(serialize('ADDED', item.value));
    afterRevision = list.revision;
    lastRevision = list.revision;
    if (query.sendInitialEvents) write(bookmark(format.as ?? def, list.revision, true));
  }

  const sink = (events: readonly WatchEvent[]) => {
    let chunk = '';
    for (const event of events) {
      lastRevision = event.revision;
      chunk += translate(event, matcher.everything ? undefined : matcher.matches, serialize);
    }
    if (chunk) write(chunk);
  };
  try {
    const watch = await service.watch(
      def,
      namespace,
      { afterRevision, signal: controller.signal, fieldSelector: query.fieldSelector },
      sink,
    );
    watch.done.catch(() => finish());
  } catch (error) {
    if (!(error instanceof ApiError && error.code === 410)) throw error;
    write(`{"type":"ERROR","object":${JSON.stringify(error.toStatus())}}\n`);
    finish();
    return;
  }

  if (query.timeoutSeconds && query.timeoutSeconds > 0) {
    const timer = setTimeout(finish, query.timeoutSeconds * 1000);
    controller.signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
  }
  if (query.allowWatchBookmarks) {
    const timer = setInterval(async () => {
      // Every event up to the head has been handed to this watcher's sink
      // synchronously at commit, so the head is a safe bookmark.
      const head = await service.currentRevision();
      if (head > lastRevision) lastRevision = head;
      write(bookmark(format.as ?? def, lastRevision, false));
    }, options.bookmarkIntervalMs ?? 10_000);
    controller.signal.addEventListener('abort', () => clearInterval(timer), { once: true });
  }
}

/** The event to send for a store event, given the selector (undefined: everything). */
function translate(
  event: WatchEvent,
  matches: ((object: KubeObject) => boolean) | undefined,
  serialize: Serializer,
): string {
  if (!matches) return serialize(event.type, event.value);
  const current = JSON.parse(event.value) as KubeObject;
  const now = matches(current);
  if (event.type === 'DELETED') return now ? serialize('DELETED', event.value, current) : '';
  const before =
    event.prevValue === undefined
      ? event.type === 'ADDED'
        ? false
        : now
      : matches(JSON.parse(event.prevValue) as KubeObject);
  if (now && before) return serialize('MODIFIED', event.value, current);
  if (now) return serialize('ADDED', event.value, current);
  if (before) return serialize('DELETED', event.value, current);
  return '';
}

function serializerFor(def: KindDefinition, format: WatchFormat): Serializer {
  const convert = (object: KubeObject) => (def.storedAs ? fromStorage(def, object) : object);
  if (format.kind === 'table') {
    return (type, value, parsed) => {
      const object = convert(parsed ?? (JSON.parse(value) as KubeObject));
      const table = toTable(def, [object], { includeObject: format.includeObject ?? 'Metadata' });
      return `{"type":"${type}","object":${JSON.stringify(table)}}\n`;
    };
  }
  if (def.storedAs) {
    return (type, value, parsed) =>
      `{"type":"${type}","object":${JSON.stringify(convert(parsed ?? (JSON.parse(value) as KubeObject)))}}\n`;
  }
  return (type, value) => `{"type":"${type}","object":${value}}\n`;
}

function bookmark(def: KindDefinition, revision: number, initialEventsEnd: boolean): string {
  const apiVersion = apiVersionOf(def);
  const metadata: Record<string, unknown> = { resourceVersion: String(revision) };
  if (initialEventsEnd) metadata.annotations = { 'k8s.io/initial-events-end': 'true' };
  return `{"type":"BOOKMARK","object":${JSON.stringify({ kind: def.kind, apiVersion, metadata })}}\n`;
}
