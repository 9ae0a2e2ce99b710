/**
 * Placements: each one's rollout summary; one Placement's broken devices with their reasons and
 * the objects it renders for a device (what that device's Mailbox holds from it, customised).
 */
import { useState } from 'preact/hooks';
import { type Collection, useCollection } from '../collection.ts';
import { selects } from '../fleet.ts';
import { type Device, type KubeObject, type Mailbox, PATHS, type Placement } from '../objects.ts';
import { Loading, Refusal } from '../widgets.tsx';

const COUNTS = ['matched', 'applied', 'running', 'failed', 'unreachable'] as const;

export function Placements({ placements }: { placements: Collection<Placement> }) {
  return (
    <main aria-labelledby="placements-title">
      <h1 id="placements-title">Placements</h1>
      {placements.error ? (
        <Refusal what="placements" error={placements.error} />
      ) : !placements.synced ? (
        <Loading what="placements" />
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Placement</th>
              {COUNTS.map((count) => (
                <th scope="col" key={count}>
                  {count[0]!.toUpperCase() + count.slice(1)}
                </th>
              ))}
              <th scope="col">Rollout</th>
            </tr>
          </thead>
          <tbody>
            {[...placements.items.values()].map((placement) => (
              <tr key={placement.metadata.uid}>
                <td>
                  <a href={`#/placements/${placement.metadata.namespace}/${placement.metadata.name}`}>
                    {placement.metadata.namespace}/{placement.metadata.name}
                  </a>
                </td>
                {COUNTS.map((count) => (
                  <td
                    key={count}
                    class={count === 'failed' && placement.status?.devices?.failed ? 'bad' : ''}
                  >
                    {placement.status?.devices?.[count] ?? 0}
                  </td>
                ))}
                <td>{placement.status?.rollout?.phase ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </main>
  );
}

export function PlacementDetail({
  placements,
  devices,
  keyName,
}: {
  placements: Collection<Placement>;
  devices: Collection<Device>;
  keyName: string;
}) {
  const placement = placements.items.get(keyName);
  const status = placement?.status;
  return (
    <main aria-labelledby="placement-title">
      <p>
        <a href="#/placements">← Placements</a>
      </p>
      <h1 id="placement-title">Placement {keyName}</h1>
      {placements.error && <Refusal what="placements" error={placements.error} />}
      {placements.synced && !placements.error && !placement && (
        <p role="status">There is no placement {keyName}.</p>
      )}
      {placement && (
        <>
          <dl class="facts">
            {COUNTS.map((count) => [
              <dt key={`t-${count}`}>{count}</dt>,
              <dd key={`d-${count}`}>{status?.devices?.[count] ?? 0}</dd>,
            ])}
            {status?.rollout && [
              <dt key="rt">rollout</dt>,
              <dd key="rd">
                {status.rollout.phase}, revision {status.rollout.currentRevision} →{' '}
                {status.rollout.updateRevision}
                {status.rollout.failure ? `: ${status.rollout.failure.message}` : ''}
              </dd>,
            ]}
          </dl>
          <section aria-labelledby="reasons-title">
            <h2 id="reasons-title">Failure reasons</h2>
            {(status?.failureReasons ?? []).length === 0 ? (
              <p>None.</p>
            ) : (
              <ul>
                {status!.failureReasons!.map((reason) => (
                  <li key={reason.reason}>
                    {reason.reason}: {reason.count} device{reason.count === 1 ? '' : 's'}
                  </li>
                ))}
              </ul>
            )}
          </section>
          <section aria-labelledby="broken-title">
            <h2 id="broken-title">Broken devices</h2>
            {(status?.broken ?? []).length === 0 ? (
              <p>None.</p>
            ) : (
              <table class="broken">
                <thead>
                  <tr>
                    <th scope="col">Device</th>
                    <th scope="col">Reason</th>
                    <th scope="col">Message</th>
                  </tr>
                </thead>
                <tbody>
                  {status!.broken!.map((entry) => (
                    <tr key={entry.device}>
                      <td>
                        <a href={`#/devices/${encodeURIComponent(entry.device)}`}>{entry.device}</a>
                      </td>
                      <td>{entry.reason}</td>
                      <td>{entry.message ?? ''}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </section>
          <RenderedObjects placement={placement} devices={devices} />
        </>
      )}
    </main>
  );
}

/**
 * What the Placement renders for one device: the entries of the device's Mailbox whose source is
 * this Placement, after customisation, as the agent receives them. The devices to choose from are
 * those its deviceSelector matches (when the viewer may list Devices) and its broken ones.
 */
function RenderedObjects({ placement, devices }: { placement: Placement; devices: Collection<Device> }) {
  const matched = new Set<string>();
  for (const device of devices.items.values())
    if (selects(placement.spec?.deviceSelector, device.metadata.labels ?? {}))
      matched.add(device.metadata.name);
  for (const entry of placement.status?.broken ?? []) matched.add(entry.device);
  const names = [...matched].sort();
  const [chosen, setChosen] = useState<string | undefined>();
  const device = chosen && matched.has(chosen) ? chosen : names[0];
  const mailboxes = useCollection<Mailbox>(
    device ? `${PATHS.mailboxes}?fieldSelector=${encodeURIComponent(`metadata.name=${device}`)}` : undefined,
  );
  const entries = (mailboxes.items.get(device ?? '')?.spec?.objects ?? []).filter(
    (entry) =>
      entry.source.namespace === placement.metadata.namespace &&
      entry.source.placement === placement.metadata.name,
  );
  return (
    <section aria-labelledby="rendered-title">
      <h2 id="rendered-title">Rendered objects</h2>
      {names.length === 0 ? (
        <p>No device to show: none matched that you may see.</p>
      ) : (
        <>
          <label>
            Device{' '}
            <select
              name="rendered-device"
              value={device}
              onChange={(event) => setChosen(event.currentTarget.value)}
            >
              {names.map((name) => (
                <option key={name} value={name}>
                  {name}
                </option>
              ))}
            </select>
          </label>
          {mailboxes.error ? (
            <Refusal what="what this device gets" error={mailboxes.error} />
          ) : !mailboxes.synced ? (
            <Loading what="the device's objects" />
          ) : entries.length === 0 ? (
            <p role="status">Nothing from this placement on {device} (yet).</p>
          ) : (
            entries.map((entry) => (
              <details key={`${entry.object.kind}/${entry.object.metadata.name}`} class="rendered" open>
                <summary>
                  {entry.object.kind} {entry.object.metadata.name} (from Workload {entry.source.workload})
                </summary>
                {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must be reachable by keyboard */}
                <pre tabIndex={0}>{JSON.stringify(redacted(entry.object), null, 2)}</pre>
              </details>
            ))
          )}
        </>
      )}
    </section>
  );
}

/**
 * The object as shown: a Secret's values are replaced by their sizes, so that a screen (or a
 * screenshot) of what a device gets does not carry its passwords and keys.
 */
function redacted(object: KubeObject): KubeObject {
  if (object.kind !== 'Secret') return object;
  const hide = (values: unknown) =>
    values && typeof values === 'object'
      ? Object.fromEntries(
          Object.entries(values).map(([key, value]) => [key, `(hidden: ${String(value).length} characters)`]),
        )
      : values;
  const secret = object as KubeObject & { data?: unknown; stringData?: unknown };
  return { ...secret, data: hide(secret.data), stringData: hide(secret.stringData) } as KubeObject;
}
