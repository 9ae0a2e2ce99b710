/**
 * Live collections: list a kind once, then follow it with a watch from the list's
 * resourceVersion (as client-go's reflector), never polling. A watch that ends is resumed from
 * the last resourceVersion seen; one the hub answers 410 Gone (compacted) relists. Changes are
 * applied to the view in batches (at most every 100 ms), so ten thousand Devices arriving at once
 * render once, not ten thousand times.
 */
import { useEffect, useState } from 'preact/hooks';
import { ApiError, getJson, streamLines } from './api.ts';
import { type KubeObject, keyOf } from './objects.ts';

/** What a view sees of a collection. */
export interface Collection<T> {
  /** By `namespace/name` (the name for cluster-scoped kinds). */
  readonly items: ReadonlyMap<string, T>;
  /** True once the first list arrived. */
  readonly synced: boolean;
  /** Why the collection cannot be read (403: RBAC does not allow it). */
  readonly error?: ApiError;
}

interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: KubeObject & { code?: number; message?: string };
}

const FLUSH_MS = 100;
const RETRY_MS = 2000;

/**
 * Follows the objects at `path` (a list URL, optionally with `?labelSelector=` or
 * `fieldSelector=`); undefined `path` follows nothing.
 */
export function useCollection<T extends KubeObject>(path: string | undefined): Collection<T> {
  const [state, setState] = useState<Collection<T>>({ items: new Map(), synced: false });
  useEffect(() => {
    if (!path) return;
    const abort = new AbortController();
    const items = new Map<string, T>();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const flush = () => {
      timer = undefined;
      setState({ items: new Map(items), synced: true });
    };
    const changed = () => {
      timer ??= setTimeout(flush, FLUSH_MS);
    };
    const separator = path.includes('?') ? '&' : '?';
    const follow = async () => {
      let resourceVersion: string | undefined;
      while (!abort.signal.aborted) {
        try {
          if (resourceVersion === undefined) {
            const list = await getJson<{ items: T[]; metadata: { resourceVersion: string } }>(
              path,
              abort.signal,
            );
            items.clear();
            for (const item of list.items) items.set(keyOf(item), item);
            resourceVersion = list.metadata.resourceVersion;
            flush();
          }
          await streamLines(
            `${path}${separator}watch=true&allowWatchBookmarks=true&resourceVersion=${resourceVersion}`,
            (line) => {
              const event = line as WatchEvent;
              if (event.type === 'ERROR') {
                // 410 Gone: the revision was compacted away; list again.
                if (event.object.code === 410) resourceVersion = undefined;
                return;
              }
              resourceVersion = event.object.metadata.resourceVersion ?? resourceVersion;
              if (event.type === 'BOOKMARK') return;
              const key = keyOf(event.object);
              if (event.type === 'DELETED') items.delete(key);
              else items.set(key, event.object as T);
              changed();
            },
            abort.signal,
          );
        } catch (error) {
          if (abort.signal.aborted) return;
          if (error instanceof ApiError) {
            if (error.status === 410) resourceVersion = undefined;
            else if (error.status === 401 || error.status === 403) {
              setState({ items: new Map(), synced: true, error });
              return;
            }
          }
          await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
        }
      }
    };
    void follow();
    return () => {
      abort.abort();
      if (timer) clearTimeout(timer);
    };
  }, [path]);
  return state;
}
