/** `outpost device approve|list` (defined in commands.ts): the devices that enrolled, and approving those that wait. */
import type { Device } from '../api/index.ts';
import { CliError } from './errors.ts';
import { type ConnectionFlags, connectToHub } from './hub-connection.ts';
import { table } from './token-command.ts';

const COLLECTION = '/apis/outpost.dev/v1alpha1/devices';

/** `outpost device approve NAME`: lets a device that enrolled with a manual-approval token get its certificate. */
export async function runDeviceApprove(name: string, flags: ConnectionFlags): Promise<void> {
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name))
    throw new CliError(`${JSON.stringify(name)} is not a device name`);
  const hub = await connectToHub(flags);
  try {
    await hub.call(
      'PATCH',
      `${COLLECTION}/${name}?fieldManager=outpost-cli`,
      { spec: { approved: true } },
      'application/merge-patch+json',
    );
  } finally {
    await hub.close();
  }
  process.stdout.write(`device ${name} approved\n`);
}

/** `outpost device list`: devices with their approval and phase. */
export async function runDeviceList(flags: ConnectionFlags): Promise<void> {
  const hub = await connectToHub(flags);
  try {
    const list = await hub.call<{
      items: { metadata: { name: string }; spec?: Device['spec']; status?: Device['status'] }[];
    }>('GET', COLLECTION);
    const rows = [['NAME', 'APPROVED', 'PHASE', 'HOSTNAME', 'ARCH']];
    for (const item of list.items)
      rows.push([
        item.metadata.name,
        item.spec?.approved ? 'yes' : 'no',
        item.status?.phase ?? '<none>',
        item.status?.system?.hostname ?? '<none>',
        item.status?.system?.architecture ?? '<none>',
      ]);
    process.stdout.write(table(rows));
  } finally {
    await hub.close();
  }
}
