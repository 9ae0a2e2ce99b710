/**
 * The podman stores the runtime uses: root's, and the rootless user's
 * (created on first use), each with its containers.conf, its folder of unit
 * files and a `podman events` stream of this agent's containers.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { type PodmanEvent, PodmanEvents } from './events.ts';
import { PodmanHost, writeContainersConf } from './exec.ts';
import { findRootlessUser, ownedDir, rootlessStateDir, setupRootlessUser } from './rootless.ts';

/** Options of {@link PodmanStores}. */
export interface PodmanStoresOptions {
  /** The rootful store's state folder (`DATA/podman`): containers.conf and `units/`. */
  readonly dir: string;
  /** This agent's owner label value (also names its folder in the rootless user's home). */
  readonly owner: string;
  /** The unprivileged user of rootless units. */
  readonly rootlessUser: string;
  readonly log?: Pick<Logger, 'info' | 'warn'>;
  /** Called for every container event of this agent's pods, in either store. */
  readonly onEvent: (event: PodmanEvent) => void;
}

/** The rootful store and, once used (or found at start), the rootless one. */
export class PodmanStores {
  readonly owner: string;
  readonly #options: PodmanStoresOptions;
  #rootful: PodmanHost | undefined;
  #rootless: Promise<PodmanHost> | undefined;
  readonly #events: PodmanEvents[] = [];

  constructor(options: PodmanStoresOptions) {
    this.#options = options;
    this.owner = options.owner;
  }

  /**
   * Prepares the rootful store (fails when podman does not run) and opens the
   * rootless one when its user exists already: an earlier agent's rootless
   * units are adopted too, while the user is created only on first use.
   */
  async start(): Promise<void> {
    await mkdir(join(this.#options.dir, 'units'), { recursive: true, mode: 0o700 });
    const conf = join(this.#options.dir, 'containers.conf');
    await writeContainersConf(conf);
    const rootful = new PodmanHost(conf);
    await rootful.run(['version', '--format', '{{.Client.Version}}']).catch((error: unknown) => {
      throw new Error('podman runtime: podman does not run (install podman and runc)', { cause: error });
    });
    this.#rootful = rootful;
    this.#watch(rootful);
    const user = this.#options.rootlessUser;
    if (await findRootlessUser(user).catch(() => undefined)) {
      await this.host(true).catch((error: unknown) =>
        this.#options.log?.warn({ err: error, user }, 'rootless podman unusable; rootless units will fail'),
      );
    }
  }

  /** Root's store (after {@link start}). */
  get rootful(): PodmanHost {
    if (!this.#rootful) throw new Error('podman runtime: not started');
    return this.#rootful;
  }

  /** The store a unit runs in; the rootless one is set up on first use (a failure is retried next time). */
  host(rootless: boolean): Promise<PodmanHost> {
    if (!rootless) return Promise.resolve(this.rootful);
    this.#rootless ??= this.#openRootless().catch((error: unknown) => {
      this.#rootless = undefined;
      throw error;
    });
    return this.#rootless;
  }

  /** Every store in use. */
  async hosts(): Promise<PodmanHost[]> {
    return this.#rootless ? [this.rootful, await this.#rootless] : [this.rootful];
  }

  /** The folder of `host`'s unit files (volumes, restart counts), one subfolder per unit. */
  unitsDir(host: PodmanHost): string {
    return host.user
      ? join(rootlessStateDir(host.user, this.owner), 'units')
      : join(this.#options.dir, 'units');
  }

  /** A unit's folder in `host`'s units folder, created (and owned by the store's user). */
  unitDir(host: PodmanHost, unitId: string): Promise<string> {
    return ownedDir(join(this.unitsDir(host), unitId), host.user);
  }

  /** Ends the event streams. */
  stop(): void {
    for (const events of this.#events) events.stop();
  }

  /** Removes this agent's folder in the rootless user's home (after its units were removed). */
  async removeRootlessState(): Promise<void> {
    const rootless = await this.#rootless?.catch(() => undefined);
    if (rootless?.user)
      await rm(rootlessStateDir(rootless.user, this.owner), { recursive: true, force: true });
  }

  async #openRootless(): Promise<PodmanHost> {
    const user = await setupRootlessUser(this.#options.rootlessUser);
    const stateDir = rootlessStateDir(user, this.owner);
    await ownedDir(join(user.home, '.outpost'), user);
    await ownedDir(stateDir, user);
    await ownedDir(join(stateDir, 'units'), user);
    const conf = join(stateDir, 'containers.conf');
    await writeContainersConf(conf, user);
    const host = new PodmanHost(conf, user);
    this.#watch(host);
    return host;
  }

  #watch(host: PodmanHost): void {
    const events = new PodmanEvents(host, this.owner, this.#options.onEvent);
    this.#events.push(events);
    events.start();
  }
}
