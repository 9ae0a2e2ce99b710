/** Placements: each one's rollout summary, and one Placement's broken devices with their reasons. */
import type { Collection } from '../collection.ts';
import type { Placement } from '../objects.ts';
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
  keyName,
}: {
  placements: Collection<Placement>;
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
        </>
      )}
    </main>
  );
}
