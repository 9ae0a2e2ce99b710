/**
 * Events about device profiles, from what the agents report: each change of
 * a profile condition's state in a Device's `status.profiles` is an Event
 * on the Device (`ProfileConditionTrue`, Normal; `ProfileConditionFalse`,
 * Normal), naming the profile, the condition and the metrics it read. The
 * agent decides on the device (offline too); the hub only tells what it
 * reported, once per change, when the report arrives (a device offline
 * meanwhile reports its latest states: changes in between are told as one).
 */
import type { Device, KubeObject } from '../../api/index.ts';
import type { Manager } from '../../controller/index.ts';
import type { EventSink } from '../events/index.ts';
import { kindOf } from './support.ts';

type Profiles = NonNullable<NonNullable<Device['status']>['profiles']>;

/** Adds the handler to the manager's Device informer (changes seen while running; a resync is none). */
export function addProfileEvents(manager: Manager, events: EventSink): void {
  const devices = manager.informer(kindOf(manager.client, 'Device'));
  devices.addEventHandler({
    onUpdate(old, device) {
      if (old === device || device.metadata.deletionTimestamp) return;
      if (old.metadata.uid !== device.metadata.uid) return;
      const before = statesOf(old);
      for (const profile of profilesOf(device)) {
        for (const condition of profile.conditions) {
          const key = `${profile.name}/${condition.name}`;
          const was = before.get(key);
          if (was === undefined || was.state === condition.state) continue;
          if (was.lastTransitionTime === condition.lastTransitionTime) continue;
          events.record(
            device,
            'Normal',
            condition.state === 'True' ? 'ProfileConditionTrue' : 'ProfileConditionFalse',
            message(device, profile.name, condition),
            'Evaluate',
          );
        }
      }
    },
  });
}

function profilesOf(device: KubeObject): Profiles {
  return (device.status as Device['status'])?.profiles ?? [];
}

function statesOf(device: KubeObject): Map<string, { state: string; lastTransitionTime?: string }> {
  const states = new Map<string, { state: string; lastTransitionTime?: string }>();
  for (const profile of profilesOf(device))
    for (const condition of profile.conditions) states.set(`${profile.name}/${condition.name}`, condition);
  return states;
}

function message(
  device: KubeObject,
  profile: string,
  condition: Profiles[number]['conditions'][number],
): string {
  const metrics = Object.entries(condition.metrics ?? {})
    .map(([name, value]) => `${name}=${value ?? 'nil'}`)
    .join(', ');
  const holds = condition.state === 'True' ? 'holds' : 'no longer holds';
  return `device ${device.metadata.name}: profile ${profile} condition ${condition.name} ${holds}${metrics ? ` (${metrics})` : ''}`;
}
