/**
 * CPU per heartbeat through ObjectService in-process (no HTTP, no TLS): 2,000
 * Devices, each with the fleet simulator's full status, then rounds in which
 * every device sends its heartbeat (a merge PATCH of `devices/NAME/status`,
 * the new `lastHeartbeatTime` and `outboxSequence`), 64 in flight; a Device
 * informer follows the writes as the hub's controllers' one does. Prints the
 * median process CPU per heartbeat of three rounds after a warm-up round. On
 * a busy machine the fleet benchmark's wall-clock figures swing with the
 * load; CPU per heartbeat in one process compares: alternate it between two
 * checkouts.
 *
 *   node --import tsx bench/service-heartbeats.ts
 *   ROOT=/path/to/other/checkout node --import tsx bench/service-heartbeats.ts
 */
import { fileURLToPath } from 'node:url';
import { removeDir, tempDir } from '../test/support/index.ts';
import { statusParts } from './fleet/device.ts';

const root = process.env.ROOT ?? fileURLToPath(new URL('..', import.meta.url));
const { SqliteStore } = (await import(
  `${root}/src/store/index.ts`
)) as typeof import('../src/store/index.ts');
const { ObjectService } = (await import(
  `${root}/src/hub/kube-api/index.ts`
)) as typeof import('../src/hub/kube-api/index.ts');
const { KindRegistry, ALL_KINDS } = (await import(
  `${root}/src/api/index.ts`
)) as typeof import('../src/api/index.ts');
const { Informer } = (await import(
  `${root}/src/controller/index.ts`
)) as typeof import('../src/controller/index.ts');

const DEVICES = 2000;
const IN_FLIGHT = 64;

const dir = await tempDir('outpost-bench-service-heartbeats-');
const store = new SqliteStore({ path: `${dir}/hub.db`, synchronous: 'FULL' });
const stop = new AbortController();
try {
  const service = new ObjectService({ store, registry: new KindRegistry(ALL_KINDS) });
  const deviceKind = service.registry.byKind('outpost.dev/v1alpha1', 'Device')!;
  const names = Array.from({ length: DEVICES }, (_, i) => `device-${i}`);
  const parts = new Map(names.map((name) => [name, statusParts(name)]));
  let seq = 0;
  const beat = (name: string) => {
    const [head, middle, tail] = parts.get(name)!;
    // Parsed as a request's body is.
    const body = JSON.parse(`${head}${new Date().toISOString()}${middle}${++seq}${tail}`);
    return service.patch(
      deviceKind,
      undefined,
      name,
      'merge',
      body,
      { fieldManager: 'outpost-agent' },
      'status',
    );
  };
  for (let i = 0; i < DEVICES; i += IN_FLIGHT) {
    await Promise.all(
      names
        .slice(i, i + IN_FLIGHT)
        .map((name) =>
          service.create(
            deviceKind,
            undefined,
            { apiVersion: 'outpost.dev/v1alpha1', kind: 'Device', metadata: { name } },
            { fieldManager: 'bench' },
          ),
        ),
    );
  }
  const informer = new Informer({ client: service, kind: deviceKind });
  void informer.start(stop.signal);
  await informer.waitForSync();
  let updates = 0;
  informer.addEventHandler({ onUpdate: () => updates++ });

  const round = async (): Promise<number> => {
    const before = process.cpuUsage();
    for (let i = 0; i < DEVICES; i += IN_FLIGHT) {
      await Promise.all(names.slice(i, i + IN_FLIGHT).map(beat));
    }
    const used = process.cpuUsage(before);
    return (used.user + used.system) / DEVICES;
  };
  await round();
  const rounds = [await round(), await round(), await round()];
  const sorted = [...rounds].sort((a, b) => a - b);
  console.log(
    `service-heartbeats (${root}): ${DEVICES} devices, median of 3 rounds: CPU µs per heartbeat ${sorted[1]!.toFixed(1)} [${rounds.map((r) => r.toFixed(1)).join(', ')}]; informer updates ${updates}`,
  );
} finally {
  stop.abort();
  await store.close();
  await removeDir(dir);
}
