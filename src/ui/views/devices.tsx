/**
 * The devices table: every Device the viewer may list, filtered by label selector, site, level
 * and phase, sorted by last heartbeat, with each one's certificate expiry. Rows are virtualised: only those in view (and a few around
 * them) are in the DOM, so ten thousand devices scroll as smoothly as ten.
 */
import { useMemo, useState } from 'preact/hooks';
import type { Collection } from '../collection.ts';
import { age, certificateExpiry, declaredLevels, levelOf, parseSelector, workloadCounts } from '../fleet.ts';
import type { Device } from '../objects.ts';
import { Loading, Refusal } from '../widgets.tsx';

const ROW_HEIGHT = 34;
const VIEW_ROWS = 18;
const OVERSCAN = 6;

export function Devices({ devices }: { devices: Collection<Device> }) {
  const [selector, setSelector] = useState('');
  const [site, setSite] = useState('');
  const [level, setLevel] = useState('');
  const [phase, setPhase] = useState('');
  const [newestFirst, setNewestFirst] = useState(true);
  const [scrollTop, setScrollTop] = useState(0);

  const levels = useMemo(() => declaredLevels(devices.items.values()), [devices.items]);
  const sites = useMemo(
    () =>
      [...new Set([...devices.items.values()].map((d) => d.metadata.labels?.site).filter(Boolean))].sort(),
    [devices.items],
  );
  const matches = useMemo(() => parseSelector(selector), [selector]);
  const rows = useMemo(() => {
    const filtered = [...devices.items.values()].filter(
      (device) =>
        (!matches || matches(device.metadata.labels ?? {})) &&
        (!site || device.metadata.labels?.site === site) &&
        (!level || levelOf(device) === level) &&
        (!phase || (device.status?.phase ?? 'Pending') === phase),
    );
    const time = (device: Device) => Date.parse(device.status?.lastHeartbeatTime ?? '') || 0;
    return filtered.sort((a, b) => (newestFirst ? time(b) - time(a) : time(a) - time(b)));
  }, [devices.items, matches, site, level, phase, newestFirst]);

  if (devices.error)
    return (
      <main>
        <h1>Devices</h1>
        <Refusal what="devices" error={devices.error} />
      </main>
    );
  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(rows.length, first + VIEW_ROWS + 2 * OVERSCAN);
  return (
    <main aria-labelledby="devices-title">
      <h1 id="devices-title">Devices</h1>
      <form class="filters" onSubmit={(event) => event.preventDefault()} aria-label="Filter devices">
        <label>
          Label selector
          <input
            name="selector"
            value={selector}
            placeholder="site=berlin,tier!=test"
            aria-invalid={matches === undefined}
            onInput={(event) => setSelector(event.currentTarget.value)}
          />
        </label>
        <label>
          Site
          <select name="site" value={site} onChange={(event) => setSite(event.currentTarget.value)}>
            <option value="">all</option>
            {sites.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Level
          <select name="level" value={level} onChange={(event) => setLevel(event.currentTarget.value)}>
            <option value="">all</option>
            {levels.map((name) => (
              <option key={name} value={name}>
                {name === '—' ? 'none' : name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Phase
          <select name="phase" value={phase} onChange={(event) => setPhase(event.currentTarget.value)}>
            <option value="">all</option>
            <option>Online</option>
            <option>Unreachable</option>
            <option>Pending</option>
          </select>
        </label>
      </form>
      {matches === undefined && <p class="refusal">That is not a label selector.</p>}
      {!devices.synced ? (
        <Loading what="devices" />
      ) : (
        <>
          <p class="count" role="status" data-shown={rows.length}>
            {rows.length} of {devices.items.size} devices
          </p>
          <div
            class="scroller"
            style={{ height: `${(VIEW_ROWS + 1) * ROW_HEIGHT}px` }}
            onScroll={(event) => setScrollTop(event.currentTarget.scrollTop)}
          >
            <table class="devices" aria-rowcount={rows.length + 1}>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Phase</th>
                  <th scope="col" aria-sort={newestFirst ? 'descending' : 'ascending'}>
                    <button type="button" onClick={() => setNewestFirst(!newestFirst)}>
                      Last heartbeat {newestFirst ? '▼' : '▲'}
                    </button>
                  </th>
                  <th scope="col">Workloads running / failed</th>
                  <th scope="col">Agent</th>
                  <th scope="col">Certificate expires</th>
                  <th scope="col">Site</th>
                  <th scope="col">Level</th>
                </tr>
              </thead>
              <tbody>
                <tr class="spacer" style={{ height: `${first * ROW_HEIGHT}px` }} />
                {rows.slice(first, last).map((device, index) => {
                  const { running, failed } = workloadCounts(device);
                  const expiry = certificateExpiry(device);
                  const name = device.metadata.name;
                  return (
                    <tr key={name} aria-rowindex={first + index + 2} style={{ height: `${ROW_HEIGHT}px` }}>
                      <td>
                        <a href={`#/devices/${encodeURIComponent(name)}`}>{name}</a>
                      </td>
                      <td>{device.status?.phase ?? 'Pending'}</td>
                      <td>{age(device.status?.lastHeartbeatTime)}</td>
                      <td>
                        {running} / <span class={failed ? 'bad' : ''}>{failed}</span>
                      </td>
                      <td>{device.status?.system?.agentVersion ?? ''}</td>
                      <td class={expiry.soon ? 'bad' : ''} title={device.status?.certificate?.notAfter}>
                        {expiry.text}
                      </td>
                      <td>{device.metadata.labels?.site ?? ''}</td>
                      <td>{levelOf(device)}</td>
                    </tr>
                  );
                })}
                <tr class="spacer" style={{ height: `${(rows.length - last) * ROW_HEIGHT}px` }} />
              </tbody>
            </table>
          </div>
        </>
      )}
    </main>
  );
}
