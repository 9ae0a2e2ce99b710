/**
 * Whether a unit's images are in the store it runs in: images are never
 * pulled (no registry is reachable), only built or loaded locally, so a
 * missing image parks the unit until someone provides it.
 */
import type { Logger } from 'pino';
import type { KubeObject } from '../../../api/index.ts';
import { podSpecOf } from '../pod-spec.ts';
import type { PodmanHost } from './exec.ts';

/** The images a Pod, Deployment or StatefulSet names (containers and init containers), once each. */
export function imagesOf(object: KubeObject): string[] {
  const { spec } = podSpecOf(object);
  const images = [...(spec.initContainers ?? []), ...(spec.containers ?? [])].flatMap((c) =>
    c.image ? [c.image] : [],
  );
  return [...new Set(images)];
}

/**
 * Checks images before a play. Images seen present are remembered per store
 * until {@link forget} (a play failed): images are only ever built or loaded
 * locally, and a removed image makes `play kube` fail, which clears the
 * memory. This saves a podman call per image on every apply.
 */
export class ImageCheck {
  readonly #present = new WeakMap<PodmanHost, Set<string>>();

  constructor(
    /** Root's store, where images are usually built; a rootless store gets a copy from it. */
    private readonly rootful: () => PodmanHost,
    private readonly log?: Pick<Logger, 'warn'>,
  ) {}

  /** Images absent from `host`; a rootless store first gets a copy of the rootful store's image when there is one. */
  async missing(host: PodmanHost, images: readonly string[]): Promise<string[]> {
    const present = this.#present.get(host) ?? new Set<string>();
    this.#present.set(host, present);
    const rootful = this.rootful();
    const missing: string[] = [];
    for (const image of images) {
      if (present.has(image)) continue;
      if (await host.succeeds(['image', 'exists', image])) {
        present.add(image);
        continue;
      }
      if (host.rootless && (await rootful.succeeds(['image', 'exists', image]))) {
        try {
          await copyImage(rootful, host, image);
          present.add(image);
          continue;
        } catch (error) {
          this.log?.warn({ image, err: error }, 'copy image to the rootless store failed');
        }
      }
      missing.push(image);
    }
    return missing;
  }

  /** Forgets what was seen in `host` (an image may have gone since). */
  forget(host: PodmanHost): void {
    this.#present.delete(host);
  }
}

/** The reason a unit whose `images` are missing from `host` reports. */
export function imageNotPresent(
  host: PodmanHost,
  images: readonly string[],
): { reason: string; message: string } {
  return {
    reason: 'ImageNotPresent',
    message: `image ${images.join(', ')} is not present on the device (${host.rootless ? 'rootless' : 'rootful'} store) and images are never pulled; build or load it locally`,
  };
}

/** `podman save IMAGE | podman load` from one store into another. */
async function copyImage(from: PodmanHost, to: PodmanHost, image: string): Promise<void> {
  const save = from.spawn(['save', image]);
  const load = to.spawnWithInput(['load', '--quiet']);
  save.stdout?.pipe(load.stdin!);
  const exit = (child: typeof save) =>
    new Promise<number | null>((done) => {
      child.on('close', done);
      child.on('error', () => done(-1));
    });
  const [saved, loaded] = await Promise.all([exit(save), exit(load)]);
  if (saved !== 0 || loaded !== 0)
    throw new Error(`copy image ${image}: save exit ${saved}, load exit ${loaded}`);
}
