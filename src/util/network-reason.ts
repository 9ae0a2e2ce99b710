/**
 * Why a connection failed, in words a person can act on: `connect
 * ECONNREFUSED 127.0.0.1:1` becomes "nothing listens at 127.0.0.1:1
 * (connection refused)". The error's cause chain is searched for the system
 * or TLS error code, since HTTP clients wrap it.
 */

/** What the codes mean, as a function of the failed address (when known). */
const REASONS: Record<string, (address: string) => string> = {
  ECONNREFUSED: (address) => `nothing listens at ${address} (connection refused)`,
  ENOTFOUND: (address) => `the host name of ${address} is unknown (DNS lookup failed)`,
  EAI_AGAIN: (address) => `the host name of ${address} cannot be looked up now (DNS)`,
  ETIMEDOUT: (address) => `${address} does not answer (timed out)`,
  UND_ERR_CONNECT_TIMEOUT: (address) => `${address} does not answer (timed out)`,
  EHOSTUNREACH: (address) => `${address} cannot be reached (no route to host)`,
  ENETUNREACH: (address) => `${address} cannot be reached (network unreachable)`,
  ECONNRESET: (address) => `${address} closed the connection (is it the hub, over https?)`,
  UND_ERR_SOCKET: (address) => `${address} closed the connection (is it the hub, over https?)`,
  EPROTO: (address) => `${address} does not speak TLS (the hub's URL starts with https://)`,
  ERR_SSL_WRONG_VERSION_NUMBER: (address) =>
    `${address} does not speak TLS (the hub's URL starts with https://)`,
};

/**
 * A one-line reason for a failed request or connection: plain words for
 * the usual network failures, else the error's own message.
 */
export function networkReason(error: unknown): string {
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 5; depth++) {
    const { code, address, port, hostname } = current as NodeJS.ErrnoException & {
      address?: string;
      port?: number;
      hostname?: string;
    };
    const explain = code === undefined ? undefined : REASONS[code];
    if (explain) {
      const where = address ? (port ? `${address}:${port}` : address) : (hostname ?? 'the server');
      return explain(where);
    }
    current = current.cause;
  }
  return error instanceof Error ? error.message : String(error);
}
