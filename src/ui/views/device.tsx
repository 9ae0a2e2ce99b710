/**
 * One device: its system facts and conditions, its workloads' objects with their status and
 * reasons (the Mailbox's status, live), its Events, a workload's log followed live, and the live
 * values of OPC UA connectors placed on it with a small chart of the last ones.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, streamText } from '../api.ts';
import { type Collection, useCollection } from '../collection.ts';
import { age, certificateExpiry } from '../fleet.ts';
import { type Device, type KubeEvent, type Mailbox, PATHS } from '../objects.ts';
import { Loading, Refusal } from '../widgets.tsx';
import { LiveValues } from './live-values.tsx';

const byName = (path: string, name: string) =>
  `${path}?fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}`;

/** `devices` is the fleet's collection the shell follows (one watch fewer than a watch of this device). */
export function DeviceDetail({ name, devices }: { name: string; devices: Collection<Device> }) {
  const mailboxes = useCollection<Mailbox>(byName(PATHS.mailboxes, name));
  const events = useCollection<KubeEvent>(
    `${PATHS.events}?fieldSelector=${encodeURIComponent(`involvedObject.kind=Device,involvedObject.name=${name}`)}`,
  );
  const device = devices.items.get(name);
  const mailbox = mailboxes.items.get(name);
  const facts = Object.entries(device?.status?.system ?? {});
  return (
    <main aria-labelledby="device-title">
      <p>
        <a href="#/devices">← Devices</a>
      </p>
      <h1 id="device-title">Device {name}</h1>
      {devices.error && <Refusal what="this device" error={devices.error} />}
      {!devices.synced && <Loading what="the device" />}
      {devices.synced && !devices.error && !device && <p role="status">There is no device named {name}.</p>}
      {device && (
        <div class="cards">
          <section class="card" aria-labelledby="facts-title">
            <h2 id="facts-title">System</h2>
            <dl class="facts">
              <dt>Phase</dt>
              <dd>{device.status?.phase ?? 'Pending'}</dd>
              <dt>Last heartbeat</dt>
              <dd>{age(device.status?.lastHeartbeatTime)}</dd>
              <dt>Certificate expires</dt>
              <dd class={certificateExpiry(device).soon ? 'bad' : ''}>
                {certificateExpiry(device).text}
                {device.status?.certificate?.notAfter ? ` (${device.status.certificate.notAfter})` : ''}
              </dd>
              <dt>Labels</dt>
              <dd>
                {Object.entries(device.metadata.labels ?? {})
                  .map(([key, value]) => `${key}=${value}`)
                  .join(', ') || 'none'}
              </dd>
              {facts.map(([key, value]) => [
                <dt key={`t-${key}`}>{key}</dt>,
                <dd key={`d-${key}`}>{String(value)}</dd>,
              ])}
            </dl>
          </section>
          <section class="card" aria-labelledby="conditions-title">
            <h2 id="conditions-title">Conditions</h2>
            <ul>
              {(device.status?.conditions ?? []).map((condition) => (
                <li key={condition.type}>
                  <strong>{condition.type}</strong> {condition.status}
                  {condition.reason ? ` (${condition.reason})` : ''}
                  {condition.message ? `: ${condition.message}` : ''}
                </li>
              ))}
            </ul>
          </section>
        </div>
      )}
      <Workloads device={name} mailbox={mailbox} error={mailboxes.error} />
      <LiveValues query={`device=${encodeURIComponent(name)}`} />
      <section aria-labelledby="events-title">
        <h2 id="events-title">Events</h2>
        {events.error ? (
          <Refusal what="Events" error={events.error} />
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Type</th>
                <th scope="col">Reason</th>
                <th scope="col">Message</th>
                <th scope="col">Last seen</th>
              </tr>
            </thead>
            <tbody>
              {[...events.items.values()]
                .sort((a, b) =>
                  (b.lastTimestamp ?? b.eventTime ?? '').localeCompare(a.lastTimestamp ?? a.eventTime ?? ''),
                )
                .map((event) => (
                  <tr key={event.metadata.uid}>
                    <td>{event.type}</td>
                    <td>{event.reason}</td>
                    <td>{event.message}</td>
                    <td>{age(event.lastTimestamp ?? event.eventTime)}</td>
                  </tr>
                ))}
            </tbody>
          </table>
        )}
      </section>
    </main>
  );
}

function Workloads({ device, mailbox, error }: { device: string; mailbox?: Mailbox; error?: ApiError }) {
  const [logsOf, setLogsOf] = useState<string | undefined>();
  const statuses = mailbox?.status?.objects ?? [];
  const sources = new Map<string, { namespace: string; workload: string }>();
  for (const entry of mailbox?.spec?.objects ?? []) {
    const ref = entry.object.metadata;
    sources.set(`${entry.object.kind}/${ref.namespace ?? ''}/${ref.name}`, entry.source);
  }
  return (
    <section aria-labelledby="workloads-title">
      <h2 id="workloads-title">Workloads</h2>
      {error && <Refusal what="this device's workloads" error={error} />}
      {!error && statuses.length === 0 && <p>No workload reported yet.</p>}
      {statuses.length > 0 && (
        <table class="workloads">
          <thead>
            <tr>
              <th scope="col">Workload</th>
              <th scope="col">Object</th>
              <th scope="col">Phase</th>
              <th scope="col">Reason</th>
              <th scope="col">Restarts</th>
              <th scope="col">Logs</th>
            </tr>
          </thead>
          <tbody>
            {statuses.map((status) => {
              const source = sources.get(
                `${status.ref.kind}/${status.ref.namespace ?? ''}/${status.ref.name}`,
              );
              const workload = source ? `${source.namespace}/${source.workload}` : '';
              return (
                <tr
                  key={`${status.ref.kind}/${status.ref.name}`}
                  class={status.phase === 'Failed' ? 'failed' : ''}
                >
                  <td>{workload}</td>
                  <td>
                    {status.ref.kind} {status.ref.name}
                  </td>
                  <td>{status.phase}</td>
                  <td>
                    {status.reason ?? ''}
                    {status.message ? `: ${status.message}` : ''}
                  </td>
                  <td>{status.restarts ?? 0}</td>
                  <td>
                    {source && (
                      <button type="button" onClick={() => setLogsOf(workload)}>
                        Logs of {source.workload}
                      </button>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {logsOf && <Logs device={device} workload={logsOf} />}
    </section>
  );
}

/** Lines of a followed log kept on the page: the newest, as a terminal's scrollback. */
const LOG_LINES = 500;

/**
 * The workload's log on this device, followed (`follow=true`, as `outpost logs -f`): the hub asks
 * the agent, which streams new output as the workload writes it. One connection while open, the
 * fifth of the six a browser keeps to one origin (devices, Mailbox, Events, telemetry).
 */
function Logs({ device, workload }: { device: string; workload: string }) {
  const [text, setText] = useState<string | undefined>();
  const [error, setError] = useState<ApiError | undefined>();
  const [ended, setEnded] = useState(false);
  const [attempt, setAttempt] = useState(0);
  const output = useRef<HTMLPreElement>(null);
  const [namespace, name] = workload.split('/') as [string, string];
  useEffect(() => {
    const abort = new AbortController();
    let received = '';
    setText(undefined);
    setError(undefined);
    setEnded(false);
    streamText(
      `/apis/outpost.dev/v1alpha1/namespaces/${namespace}/workloads/${name}/log?device=${encodeURIComponent(device)}&tailLines=200&follow=true`,
      (piece) => {
        received += piece;
        const lines = received.split('\n');
        if (lines.length > LOG_LINES + 1) received = lines.slice(-LOG_LINES - 1).join('\n');
        setText(received);
      },
      abort.signal,
      'text/plain',
    ).then(
      () => {
        setText(received);
        setEnded(true);
      },
      (failure: unknown) => {
        if (abort.signal.aborted) return;
        if (failure instanceof ApiError) setError(failure);
        else setEnded(true);
      },
    );
    return () => abort.abort();
  }, [device, namespace, name, attempt]);
  useEffect(() => {
    // Keep the newest line in view, as `tail -f` does.
    const pre = output.current;
    if (pre) pre.scrollTop = pre.scrollHeight;
  }, [text]);
  return (
    <section aria-labelledby="logs-title">
      <h3 id="logs-title">Logs of {workload}</h3>
      {error ? (
        <Refusal what="these logs" error={error} />
      ) : text === undefined && !ended ? (
        <Loading what="logs" />
      ) : (
        <>
          <p class="log-state" role="status">
            {ended
              ? 'The log ended (the workload stopped or the device went away).'
              : 'Following: new lines appear as they are written.'}
            {ended && (
              <button type="button" onClick={() => setAttempt(attempt + 1)}>
                Follow again
              </button>
            )}
          </p>
          {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must be reachable by keyboard */}
          <pre class="logs" ref={output} tabIndex={0} role="log" aria-label={`Log of ${workload}`}>
            {text || '(empty)'}
          </pre>
        </>
      )}
    </section>
  );
}
