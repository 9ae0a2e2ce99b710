/**
 * Durations as Kubernetes and Go write them: `30s`, `1m30s`, `500ms`, `2h`.
 * Units: ms, s, m, h; a number may have a fraction (`1.5s`).
 */

const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/y;
const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds of `text`; undefined when it is not a duration. */
export function parseDuration(text: string): number | undefined {
  if (text === '0') return 0;
  let total = 0;
  let at = 0;
  while (at < text.length) {
    PART.lastIndex = at;
    const match = PART.exec(text);
    if (!match) return undefined;
    total += Number(match[1]) * UNIT_MS[match[2]!]!;
    at = PART.lastIndex;
  }
  return at === 0 ? undefined : Math.round(total);
}
