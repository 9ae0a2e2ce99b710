/** Small pieces the views share: a donut of counts, a sparkline, the messages for refusals. */
import type { ApiError } from './api.ts';

/** Colours with enough contrast on white for text and marks (WCAG AA). */
export const COLOURS: Record<string, string> = {
  Online: '#1b7a3a',
  Running: '#1b7a3a',
  AllRunning: '#1b7a3a',
  Complete: '#1b7a3a',
  Pending: '#8a5a00',
  Progressing: '#1d5fa8',
  Paused: '#8a5a00',
  WaitingForApproval: '#8a5a00',
  Unreachable: '#6b6b6b',
  Failed: '#b3261e',
  RolledBack: '#b3261e',
};
const FALLBACK = ['#1d5fa8', '#6f42c1', '#8a5a00', '#6b6b6b'];

/** A donut of `counts` with a legend that carries the figures (the chart itself is decoration). */
export function Donut({ title, counts }: { title: string; counts: [string, number][] }) {
  const total = counts.reduce((sum, [, count]) => sum + count, 0);
  const circumference = 2 * Math.PI * 40;
  let offset = 0;
  const id = `donut-${title.replace(/\W+/g, '-').toLowerCase()}`;
  return (
    <section class="card" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      <div class="donut">
        <svg viewBox="0 0 100 100" width="120" height="120" aria-hidden="true">
          <circle cx="50" cy="50" r="40" fill="none" stroke="#e3e3e3" stroke-width="16" />
          {counts.map(([name, count], index) => {
            const length = total ? (count / total) * circumference : 0;
            const segment = (
              <circle
                key={name}
                cx="50"
                cy="50"
                r="40"
                fill="none"
                stroke={COLOURS[name] ?? FALLBACK[index % FALLBACK.length]}
                stroke-width="16"
                stroke-dasharray={`${length} ${circumference - length}`}
                stroke-dashoffset={-offset}
                transform="rotate(-90 50 50)"
              />
            );
            offset += length;
            return segment;
          })}
          <text x="50" y="56" text-anchor="middle" font-size="18">
            {total}
          </text>
        </svg>
        <ul class="legend">
          {counts.length === 0 && <li>none</li>}
          {counts.map(([name, count], index) => (
            <li key={name}>
              <span
                class="swatch"
                style={{ background: COLOURS[name] ?? FALLBACK[index % FALLBACK.length] }}
              />
              {name}: <strong>{count}</strong>
            </li>
          ))}
        </ul>
      </div>
    </section>
  );
}

/** A line of the last values of a numeric series, newest on the right. */
export function Sparkline({ values, label }: { values: readonly number[]; label: string }) {
  if (values.length < 2) return null;
  const min = Math.min(...values);
  const max = Math.max(...values);
  const span = max - min || 1;
  const points = values
    .map((value, index) => `${(index / (values.length - 1)) * 200},${38 - ((value - min) / span) * 36}`)
    .join(' ');
  return (
    <svg viewBox="0 0 200 40" width="200" height="40" role="img" aria-label={label}>
      <polyline points={points} fill="none" stroke="#1d5fa8" stroke-width="2" />
    </svg>
  );
}

/** What a refused read means for the person, instead of an empty or broken view. */
export function Refusal({ what, error }: { what: string; error: ApiError }) {
  const text =
    error.status === 403
      ? `You may not see ${what}: your role does not allow it.`
      : error.status === 401
        ? 'You are not signed in (or your token expired).'
        : `${what} cannot be read.`;
  return (
    <p class="refusal" role="status">
      {text} <span class="detail">{error.message}</span>
    </p>
  );
}

/** "Loading…" until the first list arrived. */
export function Loading({ what }: { what: string }) {
  return (
    <p class="loading" role="status">
      Loading {what}…
    </p>
  );
}
