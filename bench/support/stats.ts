/** Latency statistics and the plain-text tables the benchmarks print. */

/** A summary of latencies in milliseconds. */
export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** The `q`-quantile (0..1) of sorted values, nearest-rank; NaN for no values. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

/** Summarises latencies (milliseconds); does not modify its input. */
export function summarize(latencies: readonly number[]): LatencySummary {
  const sorted = Float64Array.from(latencies).sort();
  const values = Array.from(sorted);
  let total = 0;
  for (const value of values) total += value;
  return {
    count: values.length,
    p50: quantile(values, 0.5),
    p90: quantile(values, 0.9),
    p99: quantile(values, 0.99),
    max: values.length > 0 ? values[values.length - 1]! : Number.NaN,
    mean: values.length > 0 ? total / values.length : Number.NaN,
  };
}

/** The median of a few numbers (repeated rounds of one measurement). */
export function median(values: readonly number[]): number {
  return quantile(
    [...values].sort((a, b) => a - b),
    0.5,
  );
}

/** Formats a number for a table: integers with thousands separators, small values with 2 decimals. */
export function fmt(value: number, decimals?: number): string {
  if (!Number.isFinite(value)) return '-';
  const digits = decimals ?? (Math.abs(value) >= 100 ? 0 : 2);
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Renders rows as an aligned Markdown table (readable in a terminal, pasteable into docs). */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((cell, column) =>
    Math.max(cell.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    `| ${cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join(' | ')} |`;
  const rule = `|${widths.map((width, column) => (column === 0 ? `${'-'.repeat(width + 2)}` : `${'-'.repeat(width + 1)}:`)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

/** The outcome line of a goal: `goal: <text> — met` or `— MISSED`. */
export function goalLine(text: string, met: boolean): string {
  return `goal: ${text} — ${met ? 'met' : 'MISSED'}`;
}

/**
 * Prints one machine-readable line for `bench/run.ts` to collect:
 * `BENCH_RESULT {"name":...,...}`.
 */
export function report(name: string, result: Record<string, unknown>): void {
  process.stdout.write(`BENCH_RESULT ${JSON.stringify({ name, ...result })}\n`);
}
