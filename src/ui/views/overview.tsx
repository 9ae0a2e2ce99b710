/** The fleet overview: devices by phase, workloads by status, rollouts, sites and levels, failures. */
import type { Collection } from '../collection.ts';
import { countBy, failureReasons, levelOf } from '../fleet.ts';
import type { Device, Placement, Workload } from '../objects.ts';
import { Donut, Loading, Refusal } from '../widgets.tsx';

/** A Workload's status in one word: its Ready condition's reason. */
function workloadStatus(workload: Workload): string {
  const ready = workload.status?.conditions?.find((condition) => condition.type === 'Ready');
  if (!ready) return 'Pending';
  return ready.reason ?? (ready.status === 'True' ? 'AllRunning' : 'Progressing');
}

export function Overview({
  devices,
  workloads,
  placements,
}: {
  devices: Collection<Device>;
  workloads: Collection<Workload>;
  placements: Collection<Placement>;
}) {
  const deviceList = [...devices.items.values()];
  const rollouts = [...placements.items.values()].filter(
    (placement) => placement.status?.rollout && placement.status.rollout.phase !== 'Complete',
  );
  return (
    <main aria-labelledby="overview-title">
      <h1 id="overview-title">Fleet overview</h1>
      <div class="cards">
        {devices.error ? (
          <Refusal what="devices" error={devices.error} />
        ) : devices.synced ? (
          <Donut title="Devices by phase" counts={countBy(deviceList, (d) => d.status?.phase ?? 'Pending')} />
        ) : (
          <Loading what="devices" />
        )}
        {workloads.error ? (
          <Refusal what="workloads" error={workloads.error} />
        ) : (
          <Donut title="Workloads by status" counts={countBy(workloads.items.values(), workloadStatus)} />
        )}
        {placements.error ? (
          <Refusal what="placements" error={placements.error} />
        ) : (
          <Donut
            title="Rollouts"
            counts={countBy(placements.items.values(), (p) => p.status?.rollout?.phase ?? 'Complete')}
          />
        )}
      </div>
      <div class="cards">
        <CountTable
          title="Devices by site"
          rows={countBy(deviceList, (d) => d.metadata.labels?.site ?? '(none)')}
        />
        <CountTable
          title="Devices by level"
          rows={countBy(deviceList, (d) => (levelOf(d) === '—' ? '(none)' : `level ${levelOf(d)}`))}
        />
        <CountTable
          title="Top failure reasons"
          rows={failureReasons([...workloads.items.values()].map((w) => w.status)).slice(0, 10)}
          empty="No failures"
        />
      </div>
      <section aria-labelledby="rollouts-title">
        <h2 id="rollouts-title">Rollouts in progress</h2>
        {rollouts.length === 0 ? (
          <p>None.</p>
        ) : (
          <ul>
            {rollouts.map((placement) => (
              <li key={placement.metadata.uid}>
                <a href={`#/placements/${placement.metadata.namespace}/${placement.metadata.name}`}>
                  {placement.metadata.namespace}/{placement.metadata.name}
                </a>
                : {placement.status!.rollout!.phase}, revision {placement.status!.rollout!.updateRevision},
                batches released {placement.status!.rollout!.releasedBatches}
              </li>
            ))}
          </ul>
        )}
      </section>
    </main>
  );
}

function CountTable({
  title,
  rows,
  empty = 'None',
}: {
  title: string;
  rows: [string, number][];
  empty?: string;
}) {
  const id = `t-${title.replace(/\W+/g, '-').toLowerCase()}`;
  return (
    <section class="card" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {rows.length === 0 ? (
        <p>{empty}</p>
      ) : (
        <table class="counts">
          <tbody>
            {rows.map(([name, count]) => (
              <tr key={name}>
                <th scope="row">{name}</th>
                <td>{count}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
