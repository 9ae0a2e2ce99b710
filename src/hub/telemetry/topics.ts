/**
 * The hub's MQTT topics (see the table in the issue 8 contract) and what a
 * device may do with them:
 *
 *   devices/<d>/telemetry/<ns>/<connector>/<feature>   device -> hub   {"value","sourceTimestamp","seq"}
 *   devices/<d>/status/<ns>/<connector>                device -> hub   {"connected","server","error"?,"at"} (retained)
 *   devices/<d>/acks/<ns>/<connector>                  device -> hub   {"id","ok","statusCode","error"?}
 *   devices/<d>/commands/<ns>/<connector>/<feature>    hub -> device   {"id","value"}
 *
 * A device publishes only under `devices/<its name>/{telemetry,status,acks}/`
 * and subscribes only under `devices/<its name>/commands/`.
 */

/** What a device sends up. */
const UPWARD = new Set(['telemetry', 'status', 'acks']);

/** Topic filters covering everything devices send up (what the bridge and the latest-value table follow). */
export const UPWARD_FILTERS = ['devices/+/telemetry/#', 'devices/+/status/#', 'devices/+/acks/#'] as const;
/** The topic filter covering every device's commands. */
export const COMMAND_FILTER = 'devices/+/commands/#';

/** True when device `device` may publish on `topic` (a topic name: no wildcards, aedes checks that first). */
export function devicePublishAllowed(device: string, topic: string): boolean {
  const levels = topic.split('/');
  return levels.length >= 3 && levels[0] === 'devices' && levels[1] === device && UPWARD.has(levels[2]!);
}

/**
 * True when device `device` may subscribe to `filter`: its first three levels
 * must be literally `devices/<device>/commands` (wildcards only below), so
 * that no filter reaches another device's topics or anything sent up.
 */
export function deviceSubscribeAllowed(device: string, filter: string): boolean {
  const levels = filter.split('/');
  return levels.length >= 3 && levels[0] === 'devices' && levels[1] === device && levels[2] === 'commands';
}

/** True when a message on `topic` may be delivered to device `device` (its own commands only). */
export function deviceReceiveAllowed(device: string, topic: string): boolean {
  return topic.startsWith(`devices/${device}/commands/`);
}

/** A topic sent up by a device, taken apart. */
export type UpwardTopic =
  | {
      readonly type: 'telemetry';
      readonly device: string;
      readonly namespace: string;
      readonly connector: string;
      readonly feature: string;
    }
  | {
      readonly type: 'status';
      readonly device: string;
      readonly namespace: string;
      readonly connector: string;
    }
  | {
      readonly type: 'acks';
      readonly device: string;
      readonly namespace: string;
      readonly connector: string;
    };

/**
 * Parses a topic a device sent up; undefined when it does not have the
 * contract's shape (such messages are ignored). A feature may contain `/`.
 */
export function parseUpwardTopic(topic: string): UpwardTopic | undefined {
  const levels = topic.split('/');
  if (levels[0] !== 'devices' || levels.length < 5) return undefined;
  const [, device, type, namespace, connector] = levels as [string, string, string, string, string];
  if (device === '' || namespace === '' || connector === '') return undefined;
  if (type === 'telemetry') {
    const feature = levels.slice(5).join('/');
    if (feature === '') return undefined;
    return { type, device, namespace, connector, feature };
  }
  if ((type === 'status' || type === 'acks') && levels.length === 5)
    return { type, device, namespace, connector };
  return undefined;
}

/** The topic a command for `feature` of connector `namespace/connector` goes to on `device`. */
export function commandTopic(device: string, namespace: string, connector: string, feature: string): string {
  return `devices/${device}/commands/${namespace}/${connector}/${feature}`;
}
