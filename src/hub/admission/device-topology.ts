import type { FieldCause, KubeObject } from '../../api/index.ts';
import type { AdmissionCheck } from './admission.ts';

/** A Device as the topology check reads it: its name, parent and level. */
export interface TopologyNode {
  readonly name: string;
  readonly parent?: string | undefined;
  readonly level?: number | undefined;
}

/** Options of {@link createDeviceTopologyAdmission}. */
export interface DeviceTopologyAdmissionOptions {
  /** Every stored Device's name, parent and level (read only when a write changes the topology). */
  readonly devices: () => Promise<Iterable<TopologyNode>>;
}

/**
 * Refuses (422) a Device whose place in the nested network cannot be built:
 * a parent that does not exist, a parent chain that comes back to the device
 * (`spec.parent`), a parent whose ISA-95 level is not above the device's,
 * and a level change that would put the device at or below one of its own
 * children (`spec.level`). Devices are read only when the parent or the level
 * changes, so heartbeats and status writes cost nothing. Deleting a parent is
 * allowed (decommissioning must always work); its children then report it.
 */
export function createDeviceTopologyAdmission(options: DeviceTopologyAdmissionOptions): AdmissionCheck {
  return {
    name: 'DeviceTopology',
    handles: (def) => def.group === 'outpost.dev' && def.kind === 'Device',
    async admit({ object, old }) {
      const node = nodeOf(object);
      if (old) {
        const before = nodeOf(old);
        if (before.parent === node.parent && before.level === node.level) return { causes: [] };
      } else if (node.parent === undefined && node.level === undefined) {
        return { causes: [] };
      }
      const devices = new Map<string, TopologyNode>();
      for (const device of await options.devices()) devices.set(device.name, device);
      devices.set(node.name, node);
      return { causes: [...parentCauses(node, devices), ...childCauses(node, devices)] };
    },
  };
}

/** The topology fields of a Device object. */
export function nodeOf(object: KubeObject): TopologyNode {
  const spec = object.spec as { parent?: string; level?: number } | undefined;
  return { name: object.metadata.name ?? '', parent: spec?.parent, level: spec?.level };
}

function parentCauses(node: TopologyNode, devices: ReadonlyMap<string, TopologyNode>): FieldCause[] {
  if (node.parent === undefined) return [];
  const field = 'spec.parent';
  const chain = [node.name];
  for (
    let at = devices.get(node.parent);
    at;
    at = at.parent === undefined ? undefined : devices.get(at.parent)
  ) {
    chain.push(at.name);
    if (at.name === node.name) {
      return [{ reason: 'FieldValueInvalid', field, message: `parent cycle: ${chain.join(' -> ')}` }];
    }
    // A cycle that does not pass through this device was refused when it was written; stop anyway.
    if (chain.length > devices.size + 1) break;
  }
  const parent = devices.get(node.parent);
  if (!parent) {
    return [{ reason: 'FieldValueInvalid', field, message: `parent device "${node.parent}" does not exist` }];
  }
  if (parent.level === undefined) {
    return [
      {
        reason: 'FieldValueInvalid',
        field,
        message: `parent device "${parent.name}" has no spec.level; a parent must declare its level`,
      },
    ];
  }
  if (node.level !== undefined && parent.level <= node.level) {
    return [
      {
        reason: 'FieldValueInvalid',
        field,
        message: `parent device "${parent.name}" is at level ${parent.level}, not above this device's level ${node.level}`,
      },
    ];
  }
  return [];
}

function childCauses(node: TopologyNode, devices: ReadonlyMap<string, TopologyNode>): FieldCause[] {
  if (node.level === undefined) return [];
  const level = node.level;
  const blocking = [...devices.values()]
    .filter((child) => child.parent === node.name && child.level !== undefined && child.level >= level)
    .map((child) => `${child.name} (level ${child.level})`);
  if (blocking.length === 0) return [];
  return [
    {
      reason: 'FieldValueInvalid',
      field: 'spec.level',
      message: `level ${level} is not above the level of its children: ${blocking.sort().join(', ')}`,
    },
  ];
}
