import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { buildHub } from '../../../src/hub/index.ts';
import type { WatchStreamOptions } from '../../../src/hub/kube-api/index.ts';
import {
  FsObjectStorage,
  type ObjectQuota,
  type ObjectStorage,
  Uploads,
} from '../../../src/hub/objects/index.ts';
import { createCertificateAuthority } from '../../../src/hub/pki/index.ts';
import { fixedParents, fixedPlacements, startTelemetry } from '../../../src/hub/telemetry/index.ts';
import { type InProcessHub, kindLookup, openTestStore, recordWrites } from './service.ts';

/** What a test may change of the hub it builds. */
export interface InProcessHubOptions {
  /** @default the hub's (bookmarks every 10 s) */
  readonly watch?: WatchStreamOptions;
  /** Foreground and Orphan deletes get their finalizers (no controller removes them here). @default false */
  readonly garbageCollector?: boolean;
  /** How long a read waits for a resourceVersion beyond the head before its 504. @default 3000 */
  readonly futureRevisionWaitMs?: number;
  /** Serves enrollment (`/enroll`), signing with a fresh CA. @default false */
  readonly enrollment?: boolean;
  /** Serves telemetry and commands over an embedded broker (no device connects). @default false */
  readonly telemetry?: boolean;
  /** Serves uploads and objects (filesystem backend in a temp dir) with this quota. @default none */
  readonly objects?: { readonly quota?: Partial<ObjectQuota>; readonly storage?: ObjectStorage };
}

/**
 * Builds a hub app over a fresh SQLite store (no namespace in it yet); every
 * request is made by a cluster admin.
 */
export async function startInProcessHub(options: InProcessHubOptions = {}): Promise<InProcessHub> {
  const { store, registry, cleanup } = await openTestStore('outpost-api-');
  const authenticate = () => ({ user: 'admin', groups: ['system:masters'] });
  const telemetry = options.telemetry
    ? await startTelemetry({ authenticate, placements: fixedPlacements({}), parents: fixedParents({}) })
    : undefined;
  const objectsDir = options.objects ? await mkdtemp(join(tmpdir(), 'outpost-objects-')) : undefined;
  const { app, service } = buildHub({
    store,
    authenticate,
    version: 'test',
    watch: options.watch,
    garbageCollector: options.garbageCollector,
    futureRevisionWaitMs: options.futureRevisionWaitMs,
    ...(options.enrollment ? { enrollment: { ca: (await createCertificateAuthority()).ca } } : {}),
    ...(telemetry ? { telemetry } : {}),
    ...(objectsDir
      ? {
          objects: new Uploads({
            storage: options.objects?.storage ?? new FsObjectStorage(objectsDir),
            root: objectsDir,
            quota: options.objects?.quota,
          }),
        }
      : {}),
  });
  await app.ready();
  return {
    app,
    service,
    store,
    kind: kindLookup(registry),
    async close() {
      await app.close();
      await telemetry?.close();
      await cleanup();
      if (objectsDir) await rm(objectsDir, { recursive: true, force: true });
    },
  };
}

/** An answer of the API with its body already parsed (every answer must be JSON). */
export interface Answer {
  readonly status: number;
  readonly headers: Record<string, unknown>;
  readonly text: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary fields of answers.
  readonly body: any;
}

/**
 * Sends a request and checks what every answer must satisfy: no 5xx, a JSON body, and for an
 * error a `Status` with `kind: Status`, a reason and the HTTP status as `code`.
 */
export async function call(app: FastifyInstance, options: InjectOptions): Promise<Answer> {
  const response = await app.inject(options);
  const what = `${options.method} ${options.url} -> ${response.statusCode}: ${response.body.slice(0, 600)}`;
  assert.ok(response.statusCode < 500, `server error: ${what}`);
  let body: unknown;
  try {
    body = JSON.parse(response.body);
  } catch {
    assert.fail(`answer is not JSON: ${what}`);
  }
  if (response.statusCode >= 400) {
    const status = body as { kind?: unknown; reason?: unknown; code?: unknown; status?: unknown };
    assert.equal(status.kind, 'Status', `error is not a Status: ${what}`);
    assert.equal(status.status, 'Failure', `error Status is not a Failure: ${what}`);
    assert.ok(
      typeof status.reason === 'string' && status.reason.length > 0,
      `Status without a reason: ${what}`,
    );
    assert.equal(status.code, response.statusCode, `Status code differs from the HTTP status: ${what}`);
  }
  return { status: response.statusCode, headers: response.headers, text: response.body, body };
}

/** Asserts the hub still serves: a list of namespaces answers 200. */
export async function assertServing(app: FastifyInstance): Promise<void> {
  const answer = await call(app, { method: 'GET', url: '/api/v1/namespaces' });
  assert.equal(answer.status, 200, `the hub stopped serving: ${answer.text.slice(0, 300)}`);
}

/**
 * Asserts that an object as stored is valid: reading it back and PUTting it unchanged (with
 * `fieldValidation=Strict`, so no unknown field may have been kept) is accepted without a
 * warning and writes nothing. `url` names the object; an object that is gone passes. When
 * `answered` is given (the body of the write's answer), the object read must be exactly it.
 */
export async function assertRoundTrips(
  hub: InProcessHub,
  url: string,
  what: string,
  answered?: unknown,
): Promise<void> {
  const read = await call(hub.app, { method: 'GET', url });
  if (read.status === 404) return;
  assert.equal(read.status, 200, `read back failed: ${what}: ${read.text.slice(0, 300)}`);
  if (answered !== undefined)
    assert.deepEqual(read.body, answered, `the write answered something else than it stored: ${what}`);
  const recorder = await recordWrites(hub.store);
  const put = await call(hub.app, {
    method: 'PUT',
    url: `${url}?fieldValidation=Strict`,
    payload: read.text,
    headers: { 'content-type': 'application/json' },
  });
  assert.equal(put.status, 200, `PUT of the object as read was refused: ${what}: ${put.text.slice(0, 600)}`);
  assert.equal(put.headers.warning, undefined, `PUT of the object as read was warned about: ${what}`);
  assert.equal(
    put.body.metadata?.resourceVersion,
    read.body.metadata?.resourceVersion,
    `PUT of the object as read changed its resourceVersion: ${what}`,
  );
  await recorder.assertUnchanged(`PUT of the object as read: ${what}`);
}
