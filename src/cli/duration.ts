/** Durations on the command line: `90s`, `15m`, `24h`, `30d`, combinations (`1h30m`), or bare seconds. */
import { CliError } from './errors.ts';

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/**
 * Parses a duration into whole seconds (at least 1).
 * @throws CliError naming the option for anything else.
 */
export function parseDuration(text: string, option: string): number {
  const trimmed = text.trim();
  let seconds = 0;
  if (/^\d+$/.test(trimmed)) seconds = Number(trimmed);
  else if (/^(\d+[smhd])+$/.test(trimmed)) {
    for (const [, amount, unit] of trimmed.matchAll(/(\d+)([smhd])/g))
      seconds += Number(amount) * UNIT_SECONDS[unit!]!;
  } else {
    throw new CliError(
      `${option} must be a duration such as 90s, 15m, 24h or 30d, not ${JSON.stringify(text)}`,
    );
  }
  if (!Number.isSafeInteger(seconds) || seconds <= 0)
    throw new CliError(`${option} must be a positive duration`);
  return seconds;
}
