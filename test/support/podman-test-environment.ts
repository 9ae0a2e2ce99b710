/**
 * What the podman runtime's own tests share: the system packages and the test image installed
 * once, a containers.conf for the test's own podman commands, and cleanups run in reverse order.
 */
import { execFile } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The test image `scripts/build-test-image.sh` builds from busybox-static. */
export const PODMAN_TEST_IMAGE = 'localhost/busybox:latest';

/** A podman test file's environment (see {@link usePodmanTestEnvironment}). */
export interface PodmanTestEnvironment {
  /** The containers.conf the test's podman commands run with. */
  readonly conf: string;
  /** Runs podman with that configuration; resolves with its stdout. */
  podman(...args: string[]): Promise<string>;
  /** Run after the file's tests, last registered first; failures are ignored. */
  readonly cleanups: (() => Promise<void>)[];
}

/** Registers the file's before/after hooks; call it at the top level of a test file. */
export function usePodmanTestEnvironment(name: string): PodmanTestEnvironment {
  const conf = join(tmpdir(), `outpost-${name}-${process.pid}.conf`);
  const cleanups: (() => Promise<void>)[] = [];
  before(async () => {
    await run('bash', [join(import.meta.dirname, '../../scripts/setup-system.sh')]);
    await run('bash', [join(import.meta.dirname, '../../scripts/build-test-image.sh')], { timeout: 120_000 });
    // The test's own podman commands need what the runtime's containers.conf says (notes/podman.md).
    await writeFile(
      conf,
      '[containers]\ndefault_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n',
    );
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    await rm(conf, { force: true });
  });
  return {
    conf,
    cleanups,
    podman: async (...args) =>
      (await run('podman', args, { env: { ...process.env, CONTAINERS_CONF: conf } })).stdout,
  };
}
