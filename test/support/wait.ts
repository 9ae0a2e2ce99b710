/**
 * Polls `check` until it returns a value other than undefined or false (that
 * value is returned), or fails after `timeoutMs` naming `what` and the last
 * error `check` threw (a throwing check is retried: the thing may not be
 * there yet). Polls every `intervalMs` (100 ms by default), for at most
 * `timeoutMs` (60 s by default: a bound for something that must happen, not a measure of how
 * fast; the suite shares two cores with itself, and a start that takes 2 s when quiet has
 * taken 30 s at load 19).
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 60_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value as T;
    } catch (error) {
      last = error;
    }
    if (performance.now() > deadline) {
      const detail = last === undefined ? '' : `: ${String(last)}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`, { cause: last });
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
