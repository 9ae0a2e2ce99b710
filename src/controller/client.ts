import type { KindDefinition, KindRegistry, KubeObject } from '../api/index.ts';

/**
 * What the controller runtime reads and writes through: the Kubernetes verbs
 * on objects of any kind the server serves, and a watch from a revision. The
 * hub's `ObjectService` implements it in process; nothing here names a store
 * or an Outpost kind.
 *
 * Objects come back as their JSON text with the revision of the write that
 * produced them (the resourceVersion), so that a caller that only forwards
 * them never parses them. Failures are errors carrying the HTTP status the
 * Kubernetes API would answer as `code` ({@link statusCodeOf}): 404 not
 * found, 409 conflict or already exists, 410 expired, 422 invalid.
 */
export interface Client {
  /** The kinds served, to look a kind up by apiVersion and kind or to walk them all. */
  readonly registry: KindRegistry;
  /** The object as stored now. @throws an error with code 404 when it does not exist */
  get(def: KindDefinition, namespace: string | undefined, name: string): Promise<ObjectText>;
  /** The object as stored now, or undefined when it does not exist (no error to build when absence is common). */
  find(def: KindDefinition, namespace: string | undefined, name: string): Promise<ObjectText | undefined>;
  /** The objects of a kind (in one namespace, or all), read at one revision. */
  list(def: KindDefinition, namespace: string | undefined, query: ListOptions): Promise<ObjectList>;
  create(
    def: KindDefinition,
    namespace: string | undefined,
    body: KubeObject,
    options: ClientWriteOptions,
  ): Promise<ObjectText>;
  /** Replaces an object, or only its status with `subresource` 'status'. */
  update(
    def: KindDefinition,
    namespace: string | undefined,
    name: string,
    body: KubeObject,
    options: UpdateOptions,
    subresource?: 'status',
  ): Promise<ObjectText>;
  patch(
    def: KindDefinition,
    namespace: string | undefined,
    name: string,
    type: PatchType,
    patch: unknown,
    options: PatchOptions,
    subresource?: 'status',
  ): Promise<ObjectText>;
  /** Deletes an object, or marks it for deletion while finalizers remain; answers the object as it is left. */
  delete(
    def: KindDefinition,
    namespace: string | undefined,
    name: string,
    options: DeleteOptions,
  ): Promise<ObjectText>;
  /**
   * The object a write made in this process with `echo` was stored from, when `text` is
   * exactly what it stored and that write has not returned yet (its watch event reaches
   * in-process watchers before it does): a watcher may take it, frozen, instead of parsing
   * the text. Undefined otherwise, and always for a client of a remote server.
   */
  echoOf?(text: string): KubeObject | undefined;
  /**
   * Follows every change of a kind's objects (in one namespace, or all) after
   * `afterRevision`: `sink` gets each write once, in revision order, until
   * `signal` aborts. Rejects with code 410 when that revision has been
   * compacted (list again). The watch's `done` resolves when `signal` aborts
   * or the server shuts down, and rejects when the server ended the watch
   * early (a watcher that fell behind): watch again from the last revision
   * seen, or list again.
   */
  watch(
    def: KindDefinition,
    namespace: string | undefined,
    options: ClientWatchOptions,
    sink: (events: readonly ObjectEvent[]) => void,
  ): Promise<ObjectWatch>;
}

/** An object as stored: its JSON text, which carries its resourceVersion, and that revision. */
export interface ObjectText {
  /** The revision of the write that produced this text (the object's resourceVersion). */
  readonly revision: number;
  readonly value: string;
}

/** A list's items, read at one revision. */
export interface ObjectList {
  readonly items: readonly ObjectText[];
  /** The revision the list was read at: watch from it to miss nothing. */
  readonly revision: number;
  /** Set when `limit` stopped the list early: pass it as `continue` for the next page. */
  readonly continue?: string;
}

/** What a list selects, as the query parameters of a Kubernetes list. */
export interface ListOptions {
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** At most this many items. @default unlimited */
  readonly limit?: number;
  readonly continue?: string;
}

/** A committed write, as a watch delivers it. */
export interface ObjectEvent {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly revision: number;
  /** The object's text after the write; for DELETED its last state. */
  readonly value: string;
  /**
   * Where the object lives, the same for every event of one object: a path
   * ending in `/NAMESPACE/NAME`, or `/NAME` for a cluster-scoped kind (names
   * and namespaces never contain `/`), so that a cache finds the object an
   * event is about without parsing the event.
   */
  readonly key: string;
}

export interface ClientWatchOptions {
  /** Deliver every write with a revision greater than this one. */
  readonly afterRevision: number;
  /** Ends the watch. */
  readonly signal: AbortSignal;
}

export interface ObjectWatch {
  /** Settles when the watch ends: resolves on abort or shutdown, rejects when the server dropped it. */
  readonly done: Promise<void>;
}

/** How a write is made (the query parameters of a Kubernetes write). */
export interface ClientWriteOptions {
  /** Validate and answer as if written, write nothing (`dryRun=All`). */
  readonly dryRun?: boolean;
  /** Who makes the change, for managedFields. */
  readonly fieldManager: string;
  /** What to do with fields the schema does not know. @default 'Warn' */
  readonly fieldValidation?: 'Strict' | 'Warn' | 'Ignore';
  /** Collects the warnings the write gives. */
  readonly warnings?: string[];
  /**
   * Lets the write read the body in place instead of deep-copying it first:
   * the caller promises not to change the body, nor anything it holds, until
   * the call has returned (frozen or shared parts are fine), and the writer
   * never changes it. For writers that build a body per write.
   * @default false: the body is deep-copied first
   */
  readonly borrowBody?: boolean;
  /**
   * Lets in-process watchers take the object the write stored ({@link Client.echoOf}) instead
   * of parsing the stored text: that object (the body's parts included, borrowed or not) is
   * then frozen and cached by informers, so neither the caller nor anyone else may change it
   * after the call. The body must be plain JSON values (no undefined members, which the stored
   * text would not have). For a controller that writes many large objects it also caches.
   * @default false
   */
  readonly echo?: boolean;
  /**
   * The user the write is made for (as Kubernetes' impersonation), whom the
   * server's admission checks weigh. @default undefined: the server's own writer, trusted
   */
  readonly requester?: ClientUser;
}

/** A user as the server authenticates one. */
export interface ClientUser {
  readonly user: string;
  readonly groups: readonly string[];
  /** The device's name when the user is a device. */
  readonly device?: string | undefined;
}

export interface UpdateOptions extends ClientWriteOptions {
  /**
   * The object as stored at the body's resourceVersion, when the caller holds
   * it parsed (an informer's entry; frozen is fine): while that is the current
   * revision it stands for the stored text, which is then not parsed again.
   */
  readonly stored?: KubeObject;
}

export interface PatchOptions extends ClientWriteOptions {
  /** Server-side apply: take fields other managers own. @default false */
  readonly force?: boolean;
}

/** The patch kinds, by their short names: JSON merge patch, JSON patch, strategic merge patch, server-side apply. */
export type PatchType = 'merge' | 'json' | 'strategic' | 'apply';

export interface DeleteOptions {
  readonly dryRun?: boolean;
  readonly propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  readonly preconditions?: { uid?: string; resourceVersion?: string };
}

/** The HTTP status a failed {@link Client} call carries as `code`, or undefined for any other failure. */
export function statusCodeOf(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}
