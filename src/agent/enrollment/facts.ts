/** The hardware facts a device reports when it enrolls (`DeviceFacts` of the enrollment contract). */
import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { arch, availableParallelism, hostname, release, totalmem, type } from 'node:os';
import { join } from 'node:path';
// The type only: the schema (src/api/enrollment.ts) is the hub's to load.
import type { DeviceFacts } from '../../api/index.ts';

/** Node's architecture names in the spelling of container images (GOARCH). */
const ARCHITECTURES: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm' };

/**
 * Reads the facts of this machine. The machine id is systemd's
 * (`/etc/machine-id`), else one made up once and kept in `dataDir/machine-id`.
 */
export async function collectFacts(dataDir: string): Promise<DeviceFacts> {
  return {
    hostname: hostname(),
    os: type().toLowerCase(),
    kernel: release(),
    architecture: ARCHITECTURES[arch()] ?? arch(),
    cpus: availableParallelism(),
    memoryBytes: totalmem(),
    machineId: await machineId(dataDir),
  };
}

async function machineId(dataDir: string): Promise<string> {
  for (const path of ['/etc/machine-id', '/var/lib/dbus/machine-id', join(dataDir, 'machine-id')]) {
    try {
      const id = (await readFile(path, 'utf8')).trim();
      if (id) return id;
    } catch {
      // absent: try the next
    }
  }
  const id = randomUUID().replaceAll('-', '');
  await writeFile(join(dataDir, 'machine-id'), `${id}\n`, { mode: 0o644 });
  return id;
}
