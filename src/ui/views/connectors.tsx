/**
 * OPC UA connectors: each one's server, devices (matched / running / connected), the last value's
 * time and why a connection fails; under them the live values of every connector shown, by device.
 */
import type { Collection } from '../collection.ts';
import { age } from '../fleet.ts';
import type { OpcUaConnector } from '../objects.ts';
import { Loading, Refusal } from '../widgets.tsx';
import { LiveValues } from './live-values.tsx';

export function Connectors({
  connectors,
  namespace,
}: {
  connectors: Collection<OpcUaConnector>;
  namespace: string;
}) {
  return (
    <main aria-labelledby="connectors-title">
      <h1 id="connectors-title">Connectors</h1>
      {connectors.error ? (
        <Refusal what="connectors" error={connectors.error} />
      ) : !connectors.synced ? (
        <Loading what="connectors" />
      ) : connectors.items.size === 0 ? (
        <p>No OPC UA connector{namespace ? ` in namespace ${namespace}` : ''}.</p>
      ) : (
        <table class="connectors">
          <thead>
            <tr>
              <th scope="col">Connector</th>
              <th scope="col">Server</th>
              <th scope="col">Matched / running / connected</th>
              <th scope="col">Last value</th>
              <th scope="col">Problems</th>
            </tr>
          </thead>
          <tbody>
            {[...connectors.items.values()].map((connector) => {
              const devices = connector.status?.devices;
              const problems = [
                ...(connector.status?.connections ?? [])
                  .filter((connection) => !connection.connected)
                  .map((connection) => `${connection.device}: ${connection.error ?? 'not connected'}`),
                ...(connector.status?.conditions ?? [])
                  .filter((condition) => condition.status === 'False')
                  .map(
                    (condition) => `${condition.type}: ${condition.reason ?? ''} ${condition.message ?? ''}`,
                  ),
              ];
              return (
                <tr key={connector.metadata.uid}>
                  <td>
                    {connector.metadata.namespace}/{connector.metadata.name}
                  </td>
                  <td>{connector.spec?.server ?? ''}</td>
                  <td>
                    {devices?.matched ?? 0} / {devices?.running ?? 0} / {devices?.connected ?? 0}
                  </td>
                  <td>
                    {connector.status?.lastValueTime ? age(connector.status.lastValueTime) : 'none yet'}
                  </td>
                  <td class={problems.length ? 'bad' : ''}>{problems.join('; ')}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {!connectors.error && (
        <LiveValues query={namespace ? `namespace=${encodeURIComponent(namespace)}` : ''} withDevice always />
      )}
    </main>
  );
}
