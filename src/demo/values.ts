import type { TelemetryHub, TelemetryValue } from '../hub/telemetry/index.ts';

/**
 * Prints the values arriving at the hub, one line per second at most per
 * device and connector (the simulator changes every 500 ms: one line per
 * change would scroll too fast to read), with every feature's latest value.
 * Returns the function that stops it.
 */
export function printValues(telemetry: TelemetryHub, say: (line: string) => void): () => void {
  const pending = new Map<string, Map<string, TelemetryValue>>();
  const unsubscribe = telemetry.latest.onValue((value) => {
    const key = `${value.device}  ${value.namespace}/${value.connector}`;
    const features = pending.get(key) ?? new Map<string, TelemetryValue>();
    features.set(value.feature, value);
    pending.set(key, features);
  });
  const timer = setInterval(() => {
    for (const [key, features] of pending) {
      const time = new Date().toISOString().slice(11, 19);
      const shown = [...features.values()]
        .sort((a, b) => a.feature.localeCompare(b.feature))
        .map((value) => `${value.feature}=${format(value.value)}`);
      say(`${time}  ${key}  ${shown.join('  ')}`);
    }
    pending.clear();
  }, 1000);
  return () => {
    clearInterval(timer);
    unsubscribe();
  };
}

function format(value: unknown): string {
  return typeof value === 'number' && !Number.isInteger(value) ? value.toFixed(2) : JSON.stringify(value);
}
