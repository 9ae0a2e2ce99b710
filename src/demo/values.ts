import type { TelemetryHub, TelemetryValue } from '../hub/telemetry/index.ts';

/**
 * Prints the values arriving at the hub, one line per second at most per
 * device and connector (the simulator changes every 500 ms: one line per
 * change would scroll too fast to read), with every feature's latest value.
 * The first line comes as soon as the first values are in (200 ms for the
 * others of the same publish to join them), not at the next whole second.
 * Values sampled before `since` (what the agent kept while an earlier run's
 * hub was gone, forwarded now) are not live and are not shown.
 * Returns the function that stops it.
 */
export function printValues(
  telemetry: TelemetryHub,
  say: (line: string) => void,
  since = Date.now(),
): () => void {
  const pending = new Map<string, Map<string, TelemetryValue>>();
  let timer: NodeJS.Timeout | undefined;
  let first: NodeJS.Timeout | undefined;
  const unsubscribe = telemetry.latest.onValue((value) => {
    if (value.sourceTimestamp !== undefined && Date.parse(value.sourceTimestamp) < since) return;
    const key = `${value.device}  ${value.namespace}/${value.connector}`;
    const features = pending.get(key) ?? new Map<string, TelemetryValue>();
    features.set(value.feature, value);
    pending.set(key, features);
    if (timer === undefined && first === undefined)
      first = setTimeout(() => {
        flush();
        timer = setInterval(flush, 1000);
      }, 200);
  });
  const flush = () => {
    for (const [key, features] of pending) {
      const time = new Date().toISOString().slice(11, 19);
      const shown = [...features.values()]
        .sort((a, b) => a.feature.localeCompare(b.feature))
        .map((value) => `${value.feature}=${format(value.value)}`);
      say(`${time}  ${key}  ${shown.join('  ')}`);
    }
    pending.clear();
  };
  return () => {
    clearTimeout(first);
    clearInterval(timer);
    unsubscribe();
  };
}

function format(value: unknown): string {
  return typeof value === 'number' && !Number.isInteger(value) ? value.toFixed(2) : JSON.stringify(value);
}
