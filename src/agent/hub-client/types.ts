/**
 * What the parts of the hub client share: the TLS identity of a connection,
 * the device identity the API client speaks with, and what one request sends
 * and how long it waits. Imports nothing of this folder, so that the
 * dispatcher, its HTTP/1.1 and HTTP/2 paths and the answer's body depend on
 * it and never on each other in a circle.
 */
import type { Readable } from 'node:stream';

/** TLS settings of a connection to the hub. */
export interface HubTls {
  /** The hub's CA; without it the hub is not verified (only to fetch the CA on first contact). */
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
}

/** The device identity {@link HubApi} speaks with (the enrolled device's credentials have this shape). */
export interface HubIdentity {
  readonly hubUrl: string;
  /** The device's name. */
  readonly name: string;
  /** The hub's CA, to verify the hub with. */
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

/** What one request sends and how long it waits, whichever HTTP version carries it. */
export interface HubCallOptions {
  readonly method: string;
  readonly signal?: AbortSignal;
  readonly headers?: Record<string, string>;
  /** Sent as it is (a string) or streamed (a stream: chunked on HTTP/1.1). */
  readonly body?: string | Readable;
  /** Fails when the answer's headers take longer (0: never). @default 30000 */
  readonly headersTimeout?: number;
  /** Fails when the body stays silent longer (0: never). @default 30000 */
  readonly bodyTimeout?: number;
}
