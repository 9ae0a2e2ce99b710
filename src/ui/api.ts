/**
 * The hub's API as the dashboard reads it: same-origin requests (through `outpost dashboard`'s
 * proxy, which adds the kubeconfig's credentials), or with a person's bearer token
 * (`outpost user token`) kept for this tab only, when the dashboard is opened on the hub itself.
 */

const TOKEN_KEY = 'outpost.token';

/** An answer other than 2xx, with the hub's Status message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The bearer token of this tab, if the person gave one. */
export function bearerToken(): string | undefined {
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
}

/** Keeps (or with undefined forgets) the bearer token for this tab. */
export function setBearerToken(token: string | undefined): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

function headers(): Record<string, string> {
  const token = bearerToken();
  return { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) };
}

async function failure(response: Response): Promise<ApiError> {
  const text = await response.text();
  let message = text || response.statusText;
  try {
    message = (JSON.parse(text) as { message?: string }).message ?? message;
  } catch {}
  return new ApiError(response.status, message);
}

/** GETs `path` and parses the JSON answer. @throws ApiError */
export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  const response = await fetch(path, { headers: headers(), signal });
  if (!response.ok) throw await failure(response);
  return (await response.json()) as T;
}

/**
 * Reads a streamed answer (a followed log, a watch) and calls `onText` with each piece as it
 * arrives, until the stream ends or `signal` aborts. @throws ApiError when it does not start
 */
export async function streamText(
  path: string,
  onText: (text: string) => void,
  signal: AbortSignal,
  accept = 'application/json',
): Promise<void> {
  const response = await fetch(path, { headers: { ...headers(), accept }, signal });
  if (!response.ok || !response.body) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    onText(value);
  }
}

/**
 * Reads a streamed answer of one JSON document per line (a watch, telemetry) and calls `onLine`
 * for each, until the stream ends or `signal` aborts. @throws ApiError when it does not start
 */
export async function streamLines(
  path: string,
  onLine: (value: unknown) => void,
  signal: AbortSignal,
): Promise<void> {
  let pending = '';
  await streamText(
    path,
    (text) => {
      pending += text;
      let newline = pending.indexOf('\n');
      while (newline >= 0) {
        const line = pending.slice(0, newline).trim();
        pending = pending.slice(newline + 1);
        if (line) onLine(JSON.parse(line));
        newline = pending.indexOf('\n');
      }
    },
    signal,
  );
}
