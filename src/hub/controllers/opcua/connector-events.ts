import type { KubeObject } from '../../../api/index.ts';
import type { EventSink } from '../../events/index.ts';
import type { Condition } from '../placement/index.ts';
import { NO_STATUS_ERROR, UNREACHABLE_ERROR } from './connections.ts';
import type { Connection } from './status.ts';

/**
 * What the renderer tells as Events on an OpcUaConnector, each once: it
 * cannot be rendered (`Rendered` turning False: SecretNotFound, Conflict,
 * Refused...; Warning), the connector on a device reports an error
 * connecting to its server (`ConnectionFailed`, Warning, with the error)
 * and connects again after one (`Connected`, Normal). A device unreachable
 * is device-health's to tell; a connector that has said nothing yet has no
 * error to tell.
 *
 * Per connector key, the error last told per device is remembered (in this
 * hub process), so reconciles that find the same state tell nothing.
 */
export class ConnectorEvents {
  readonly #events: EventSink;
  /** Per connector key, per device, the error told last. */
  readonly #errors = new Map<string, Map<string, string>>();

  constructor(events: EventSink) {
    this.#events = events;
  }

  /** Tells `Rendered` turning False, or False for another reason. */
  rendered(
    connector: KubeObject,
    previous: readonly Condition[] | undefined,
    next: readonly Condition[],
  ): void {
    const now = next.find((c) => c.type === 'Rendered');
    if (now?.status !== 'False') return;
    const before = previous?.find((c) => c.type === 'Rendered');
    if (before?.status === 'False' && before.reason === now.reason) return;
    this.#events.record(connector, 'Warning', now.reason, now.message, 'Render');
  }

  /** Tells each device's connection error that is new, and each recovery from one. */
  connections(key: string, connector: KubeObject, connections: readonly Connection[] | undefined): void {
    if (!connections) return;
    const told = this.#errors.get(key) ?? new Map<string, string>();
    const server = (connector.spec as { server?: string }).server ?? 'its server';
    for (const { device, connected, error } of connections) {
      const before = told.get(device);
      if (!connected && error && error !== UNREACHABLE_ERROR && error !== NO_STATUS_ERROR) {
        if (before === error) continue;
        told.set(device, error);
        this.#events.record(
          connector,
          'Warning',
          'ConnectionFailed',
          `device ${device}: cannot connect to ${server}: ${error}`,
          'Connect',
        );
      } else if (connected && before !== undefined) {
        told.delete(device);
        this.#events.record(
          connector,
          'Normal',
          'Connected',
          `device ${device}: connected to ${server} again`,
          'Connect',
        );
      }
    }
    if (told.size > 0) this.#errors.set(key, told);
    else this.#errors.delete(key);
  }

  /** The connector is gone: nothing is remembered for it. */
  forget(key: string): void {
    this.#errors.delete(key);
  }
}
