import type { FieldCause, KindDefinition } from '../../api/index.ts';

/** A Kubernetes `Status` object, as every error answer carries it. */
export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message: string;
  reason: string;
  details?: {
    name?: string;
    group?: string;
    kind?: string;
    uid?: string;
    causes?: Array<{ reason?: string; message?: string; field?: string }>;
    retryAfterSeconds?: number;
  };
  code: number;
}

/**
 * An error the API answers with a `Status` of its own. Routes throw these;
 * one error handler renders them. Anything else becomes a 500 without detail.
 */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Status['details'],
  ) {
    super(message);
  }

  toStatus(): Status {
    const status: Status = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      code: this.code,
    };
    if (this.details) status.details = this.details;
    return status;
  }
}

/** `workloads.outpost.dev` or `configmaps`: how Kubernetes names a resource in messages. */
export function qualifiedResource(def: Pick<KindDefinition, 'plural' | 'group'>): string {
  return def.group === '' ? def.plural : `${def.plural}.${def.group}`;
}

function qualifiedKind(def: Pick<KindDefinition, 'group' | 'kind'>): string {
  return def.group === '' ? def.kind : `${def.kind}.${def.group}`;
}

export const errors = {
  notFound(def: Pick<KindDefinition, 'plural' | 'group'>, name: string): ApiError {
    return new ApiError(404, 'NotFound', `${qualifiedResource(def)} "${name}" not found`, {
      name,
      group: def.group,
      kind: def.plural,
    });
  },
  alreadyExists(def: KindDefinition, name: string): ApiError {
    return new ApiError(409, 'AlreadyExists', `${qualifiedResource(def)} "${name}" already exists`, {
      name,
      group: def.group,
      kind: def.plural,
    });
  },
  conflict(
    def: KindDefinition,
    name: string,
    why = 'the object has been modified; please apply your changes to the latest version and try again',
  ): ApiError {
    return new ApiError(
      409,
      'Conflict',
      `Operation cannot be fulfilled on ${qualifiedResource(def)} "${name}": ${why}`,
      {
        name,
        group: def.group,
        kind: def.plural,
      },
    );
  },
  /** A 422 naming each invalid field; `def` may be an options kind (`ListOptions` of `meta.k8s.io`). */
  invalid(
    def: Pick<KindDefinition, 'group' | 'kind'>,
    name: string,
    causes: readonly FieldCause[],
  ): ApiError {
    const summary =
      causes.length === 1
        ? `${causes[0]!.field}: ${causes[0]!.message}`
        : `[${causes.map((cause) => `${cause.field}: ${cause.message}`).join(', ')}]`;
    return new ApiError(422, 'Invalid', `${qualifiedKind(def)} "${name}" is invalid: ${summary}`, {
      name,
      group: def.group,
      kind: def.kind,
      causes: causes.map((cause) => ({ reason: cause.reason, message: cause.message, field: cause.field })),
    });
  },
  badRequest(message: string): ApiError {
    return new ApiError(400, 'BadRequest', message);
  },
  methodNotAllowed(message: string): ApiError {
    return new ApiError(405, 'MethodNotAllowed', message);
  },
  notAcceptable(message: string): ApiError {
    return new ApiError(406, 'NotAcceptable', message);
  },
  unsupportedMediaType(message: string): ApiError {
    return new ApiError(415, 'UnsupportedMediaType', message);
  },
  expired(message: string): ApiError {
    return new ApiError(410, 'Expired', message);
  },
  gone(message: string): ApiError {
    return new ApiError(410, 'Gone', message);
  },
  unauthorized(): ApiError {
    return new ApiError(401, 'Unauthorized', 'Unauthorized');
  },
  forbidden(message: string): ApiError {
    return new ApiError(403, 'Forbidden', message);
  },
  tooLarge(limit: number): ApiError {
    return new ApiError(413, 'RequestEntityTooLarge', `Request entity too large: limit is ${limit}`);
  },
  /** The store's database is unreachable: the client may retry (kubectl and client-go do on 503). */
  unavailable(message: string): ApiError {
    return new ApiError(503, 'ServiceUnavailable', message, { retryAfterSeconds: 1 });
  },
  /** The client asks too much at once; `retryAfterSeconds` says when to try again (also as `Retry-After`). */
  tooManyRequests(message: string, retryAfterSeconds: number): ApiError {
    return new ApiError(429, 'TooManyRequests', message, { retryAfterSeconds });
  },
  /** The server could not answer in time (a 504); `details` tells the client when to retry. */
  timeout(message: string, details: Status['details']): ApiError {
    return new ApiError(504, 'Timeout', `Timeout: ${message}`, details);
  },
  internal(): ApiError {
    return new ApiError(500, 'InternalError', 'Internal error occurred: the request could not be completed');
  },
  tooManyConflicts(def: KindDefinition, name: string): ApiError {
    return new ApiError(
      409,
      'Conflict',
      `Operation cannot be fulfilled on ${qualifiedResource(def)} "${name}": too many concurrent updates`,
    );
  },
};
