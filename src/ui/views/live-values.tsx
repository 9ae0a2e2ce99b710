/**
 * Live OPC UA values from the hub's telemetry watch (the current values first, then each new one),
 * with a small chart of the last ones: on a device's page (`device=D`), on the connectors page (all
 * connectors the viewer may read, or one namespace's: `namespace=NS`). One streamed request.
 */
import { useEffect, useState } from 'preact/hooks';
import { ApiError, streamLines } from '../api.ts';
import { Refusal, Sparkline } from '../widgets.tsx';

interface TelemetryValue {
  connector: string;
  namespace: string;
  device: string;
  feature: string;
  value: unknown;
  receivedAt: string;
}

interface Series {
  latest: TelemetryValue;
  numbers: number[];
}

/** Values kept per feature for its chart: about two minutes at one a second. */
const HISTORY = 120;
const RETRY_MS = 2000;

/**
 * `query` narrows the watch (`device=D`, `namespace=NS`; empty for every connector). With
 * `withDevice` a column names the device each value came from. Shown only once there are values,
 * unless `always` (then "No value yet").
 */
export function LiveValues({
  query,
  withDevice = false,
  always = false,
}: {
  query: string;
  withDevice?: boolean;
  always?: boolean;
}) {
  const [series, setSeries] = useState<ReadonlyMap<string, Series>>(new Map());
  const [error, setError] = useState<ApiError | undefined>();
  useEffect(() => {
    const abort = new AbortController();
    const known = new Map<string, Series>();
    setSeries(new Map());
    setError(undefined);
    const take = (value: TelemetryValue) => {
      const key = `${value.namespace}/${value.connector}/${value.device}/${value.feature}`;
      const entry = known.get(key) ?? { latest: value, numbers: [] };
      // The watch starts with the current values: one seen already is not a new point.
      if (entry.numbers.length > 0 && entry.latest.receivedAt === value.receivedAt) return;
      entry.latest = value;
      if (typeof value.value === 'number') entry.numbers = [...entry.numbers, value.value].slice(-HISTORY);
      known.set(key, entry);
      setSeries(new Map(known));
    };
    const follow = async () => {
      while (!abort.signal.aborted) {
        try {
          await streamLines(
            `/apis/outpost.dev/v1alpha1/opcuaconnectors/telemetry?${query ? `${query}&` : ''}watch=true`,
            (line) => {
              const value = line as TelemetryValue & { items?: TelemetryValue[] };
              if (Array.isArray(value.items)) value.items.forEach(take);
              else if (value.feature) take(value);
            },
            abort.signal,
          );
        } catch (failure) {
          if (abort.signal.aborted) return;
          if (failure instanceof ApiError && (failure.status === 401 || failure.status === 403)) {
            setError(failure);
            return;
          }
        }
        // The stream ended (a hub restart, a proxy's timeout): follow again after a pause.
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      }
    };
    void follow();
    return () => abort.abort();
  }, [query]);
  if (error) return <Refusal what="live values" error={error} />;
  if (series.size === 0 && !always) return null;
  return (
    <section aria-labelledby="telemetry-title">
      <h2 id="telemetry-title">Live values</h2>
      {series.size === 0 && <p>No value yet.</p>}
      <table class="live-values" hidden={series.size === 0}>
        <thead>
          <tr>
            <th scope="col">Connector</th>
            {withDevice && <th scope="col">Device</th>}
            <th scope="col">Feature</th>
            <th scope="col">Value</th>
            <th scope="col">Last minutes</th>
          </tr>
        </thead>
        <tbody>
          {[...series].map(([key, { latest, numbers }]) => (
            <tr key={key}>
              <td>
                {latest.namespace}/{latest.connector}
              </td>
              {withDevice && (
                <td>
                  <a href={`#/devices/${encodeURIComponent(latest.device)}`}>{latest.device}</a>
                </td>
              )}
              <td>{latest.feature}</td>
              <td class="value">{JSON.stringify(latest.value)}</td>
              <td>
                <Sparkline values={numbers} label={`${latest.feature}: last ${numbers.length} values`} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
