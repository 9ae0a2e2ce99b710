import { isIP } from 'node:net';
import Type from 'typebox';
import type { FieldCause, KindDefinition, KubeObject } from './kind.ts';
import { ageColumn, Conditions, FreeForm, objectSchema, Time } from './meta.ts';
import { validateUpdateWindow } from './policy/index.ts';
import { DeviceProfiles, ProfileStatuses, validateDeviceProfiles } from './profile-schema.ts';
import { UPDATE_WINDOW_TEXT, UpdateWindow } from './rollout.ts';
import { UploadStatus } from './upload-schema.ts';

const PlumbingHealth = Type.Object(
  {
    ready: Type.Boolean({ description: 'Whether the process runs on the gateway.' }),
    message: Type.Optional(Type.String()),
  },
  { description: 'The health of a rendered proxy or broker, from what the gateway reports.' },
);

/** What the hub writes about a device's place in the nested network. */
const NestedStatus = Type.Object(
  {
    children: Type.Optional(
      Type.Array(Type.String(), { description: 'The devices whose parent this device is, by name.' }),
    ),
    workload: Type.Optional(
      Type.String({ description: 'The Workload (`namespace/name`) of its proxy and broker.' }),
    ),
    proxy: Type.Optional(PlumbingHealth),
    broker: Type.Optional(PlumbingHealth),
    parent: Type.Optional(
      Type.String({
        description:
          'For a child: its parent missing (`ParentMissing`), unreachable (`ParentUnreachable`) or `Reachable`.',
      }),
    ),
    hubProxy: Type.Optional(
      Type.String({
        description:
          "For a child: its parent's proxy (`http://ADDRESS:PORT`), which its agent takes up (it reads it after each heartbeat) for every connection to the hub.",
      }),
    ),
    parentBroker: Type.Optional(
      Type.String({
        description:
          "For a child: its parent's broker (`mqtts://ADDRESS:PORT`), where its agent sends its telemetry with its device certificate.",
      }),
    ),
  },
  { description: 'Nested networks, as the hub sees them (written by the hub).' },
);

export const DeviceSchema = objectSchema(
  'outpost.dev/v1alpha1',
  'Device',
  'An edge device in the inventory.',
  {
    spec: Type.Optional(
      Type.Object(
        {
          heartbeat: Type.Optional(
            Type.Object(
              {
                periodSeconds: Type.Optional(
                  Type.Integer({
                    minimum: 1,
                    maximum: 3600,
                    default: 15,
                    description: 'Seconds between heartbeats.',
                  }),
                ),
              },
              { description: 'How often the agent reports.' },
            ),
          ),
          parent: Type.Optional(
            Type.String({
              description:
                'The gateway device of the level above (nested networks): this device reaches the hub only through its proxy and broker.',
            }),
          ),
          level: Type.Optional(
            Type.Integer({
              minimum: 0,
              maximum: 5,
              description:
                'ISA-95 level of the network the device sits in (4 enterprise, 3 site operations, 2 area control, ...); required with a parent, whose level must be higher.',
            }),
          ),
          gateway: Type.Optional(
            Type.Object(
              {
                address: Type.Optional(
                  Type.String({
                    minLength: 1,
                    description:
                      'Host name or IP at which the devices of the level below reach this gateway.',
                  }),
                ),
                proxyPort: Type.Optional(
                  Type.Integer({
                    minimum: 1,
                    maximum: 65535,
                    default: 3128,
                    description: 'Port of the Squid proxy the hub renders for this gateway.',
                  }),
                ),
                brokerPort: Type.Optional(
                  Type.Integer({
                    minimum: 1,
                    maximum: 65535,
                    default: 1883,
                    description: 'Port of the Mosquitto broker the hub renders for this gateway.',
                  }),
                ),
                childNetworks: Type.Optional(
                  Type.Array(Type.String(), {
                    maxItems: 64,
                    description:
                      "Networks (CIDRs, e.g. 10.0.3.0/24) the level below is in: the proxy also lets devices CONNECT from these, so that a device can enroll through it before its Device exists (its reported addresses alone are allowed otherwise). A decommissioned child's addresses are refused even inside them.",
                  }),
                ),
              },
              {
                description:
                  'How this device serves as the parent of others (nested networks): where its proxy and broker listen.',
              },
            ),
          ),
          approved: Type.Optional(
            Type.Boolean({
              description:
                'Whether the hub signs the certificate the device asked for at enrollment (set by an admin, or at once by an auto-approving token).',
            }),
          ),
          profiles: Type.Optional(DeviceProfiles),
          updateWindow: Type.Optional({
            ...UpdateWindow,
            description: `${UPDATE_WINDOW_TEXT} Takes the place of the Placements' spec.rollout.updateWindow on this device.`,
          }),
        },
        { description: 'What infrastructure admins set for the device.' },
      ),
    ),
    status: Type.Optional(
      Type.Object(
        {
          phase: Type.Optional(
            Type.Enum(['Pending', 'Online', 'Unreachable'], {
              description:
                'Pending until approved, Online while heartbeats arrive, Unreachable when they stop.',
            }),
          ),
          conditions: Type.Optional(Conditions),
          lastHeartbeatTime: Type.Optional({ ...Time, description: 'When the last heartbeat arrived.' }),
          system: Type.Optional(
            Type.Object(
              {
                hostname: Type.Optional(Type.String()),
                os: Type.Optional(Type.String()),
                kernel: Type.Optional(Type.String()),
                architecture: Type.Optional(Type.String()),
                cpus: Type.Optional(Type.Integer()),
                memoryBytes: Type.Optional(Type.Integer()),
                diskBytes: Type.Optional(Type.Integer()),
                machineId: Type.Optional(Type.String()),
                agentVersion: Type.Optional(Type.String()),
                addresses: Type.Optional(
                  Type.Array(Type.String(), {
                    description:
                      "The device's own IP addresses; its parent's proxy accepts connections from these only.",
                  }),
                ),
                hubProxy: Type.Optional(
                  Type.String({
                    description:
                      'The proxy the agent reaches the hub through (nested networks): a device moved to another parent is admitted by its old parent until this names the new one.',
                  }),
                ),
              },
              { description: 'System facts the agent reports.' },
            ),
          ),
          resources: Type.Optional(
            FreeForm(Type.Object({}, { description: 'Resource use the agent reports.' })),
          ),
          workloads: Type.Optional(
            Type.Array(FreeForm(Type.Object({ name: Type.String() })), {
              description: 'Per-workload status.',
            }),
          ),
          profiles: Type.Optional(ProfileStatuses),
          uploads: Type.Optional(UploadStatus),
          objectStorage: Type.Optional(
            Type.Object(
              {
                location: Type.String({
                  description:
                    'The object storage the hub keeps uploads in (`s3://BUCKET/PREFIX/`, `file:///...`).',
                }),
                prefix: Type.String({ description: "The device's own prefix in it: `devices/<name>/`." }),
              },
              {
                description:
                  "Where the device's uploaded files end up, recorded by the hub when the device enrolls (as k4e records its ObjectBucketClaim). The device needs no storage credentials: it uploads through the hub.",
              },
            ),
          ),
          nested: Type.Optional(NestedStatus),
          certificate: Type.Optional(
            Type.Object(
              {
                notAfter: {
                  ...Time,
                  description: "When the device's current client certificate expires.",
                },
              },
              {
                description:
                  "The device's client certificate, recorded by the hub whenever it issues one (at enrollment and at each renewal), so that its expiry is in the API: `kubectl get devices -o wide`, the dashboard, the expiry metric.",
              },
            ),
          ),
        },
        { description: 'What the device reports through its agent.' },
      ),
    ),
  },
);
export type Device = Type.Static<typeof DeviceSchema>;

export const deviceKind: KindDefinition = {
  group: 'outpost.dev',
  version: 'v1alpha1',
  kind: 'Device',
  plural: 'devices',
  singular: 'device',
  shortNames: ['dev'],
  categories: ['outpost'],
  namespaced: false,
  schema: DeviceSchema,
  description: 'An edge device in the inventory: created at enrollment, labelled by infrastructure admins.',
  statusSubresource: true,
  strategicMergePatch: false,
  validate: (object) => {
    const window = (object.spec as { updateWindow?: UpdateWindow } | undefined)?.updateWindow;
    return [
      ...validateDeviceProfiles(object),
      ...validateTopologyFields(object),
      ...validateChildNetworks(object),
      ...(window ? validateUpdateWindow(window, 'spec.updateWindow') : []),
    ];
  },
  printerColumns: [
    {
      name: 'Phase',
      type: 'string',
      description: 'Pending, Online or Unreachable.',
      cell: (o) => (o.status as Device['status'])?.phase,
    },
    { name: 'Site', type: 'string', description: 'The site label.', cell: (o) => o.metadata.labels?.site },
    {
      name: 'Parent',
      type: 'string',
      description: 'The gateway of the level above (nested networks).',
      cell: (o) => (o.spec as Device['spec'])?.parent,
    },
    {
      name: 'Level',
      type: 'integer',
      description: 'ISA-95 level.',
      cell: (o) => (o.spec as Device['spec'])?.level,
    },
    {
      name: 'Last Heartbeat',
      type: 'date',
      description: 'Time since the last heartbeat.',
      cell: (o) => (o.status as Device['status'])?.lastHeartbeatTime,
    },
    ageColumn,
    {
      name: 'Arch',
      type: 'string',
      priority: 1,
      description: 'CPU architecture.',
      cell: (o) => (o.status as Device['status'])?.system?.architecture,
    },
    {
      name: 'OS',
      type: 'string',
      priority: 1,
      description: 'Operating system.',
      cell: (o) => (o.status as Device['status'])?.system?.os,
    },
    {
      name: 'Cert Expires',
      // A time, not a 'date' column: those print the age since, and this one is in the future.
      type: 'string',
      priority: 1,
      description: "When the device's client certificate expires (RFC 3339).",
      cell: (o) => (o.status as Device['status'])?.certificate?.notAfter,
    },
  ],
};

/** `spec.gateway.childNetworks`: each an IPv4 or IPv6 CIDR without host bits, narrower than every address. */
function validateChildNetworks(object: KubeObject): FieldCause[] {
  const networks = (object.spec as Device['spec'])?.gateway?.childNetworks ?? [];
  return networks.flatMap((text, i): FieldCause[] => {
    const problem = cidrProblem(text);
    return problem
      ? [{ reason: 'FieldValueInvalid', field: `spec.gateway.childNetworks[${i}]`, message: problem }]
      : [];
  });
}

/** What is wrong with a CIDR, or undefined. */
function cidrProblem(text: string): string | undefined {
  const match = /^([^/]+)\/(\d{1,3})$/.exec(text);
  const family = match ? isIP(match[1]!) : 0;
  if (!match || family === 0) return `${JSON.stringify(text)} is not a network such as 10.0.3.0/24`;
  const bits = Number(match[2]);
  const max = family === 4 ? 32 : 128;
  if (bits > max) return `${JSON.stringify(text)}: a prefix of IPv${family} is at most /${max}`;
  if (bits === 0) return `${JSON.stringify(text)} would let every address through the proxy`;
  if (family === 4) {
    const value = match[1]!.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
    const hostBits = value % 2 ** (32 - bits);
    if (hostBits !== 0) {
      const network = value - hostBits;
      const dotted = [24, 16, 8, 0].map((shift) => Math.floor(network / 2 ** shift) % 256).join('.');
      return `${JSON.stringify(text)} has host bits set: the network is ${dotted}/${bits}`;
    }
  }
  return undefined;
}

/**
 * The topology checks that need no other Device: a device with a parent
 * declares its level (the hub compares it with the parent's, admission's
 * job), and is not its own parent.
 */
function validateTopologyFields(object: KubeObject): FieldCause[] {
  const spec = object.spec as Device['spec'];
  if (spec?.parent === undefined) return [];
  if (spec.parent === object.metadata.name) {
    return [
      { reason: 'FieldValueInvalid', field: 'spec.parent', message: 'a device cannot be its own parent' },
    ];
  }
  if (spec.level === undefined) {
    return [
      {
        reason: 'FieldValueRequired',
        field: 'spec.level',
        message: 'a device with a parent must declare its level',
      },
    ];
  }
  return [];
}
