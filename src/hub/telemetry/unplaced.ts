/**
 * Messages a device sends up for a workload not placed on it (another
 * namespace's connector, a connector moved off it, a made-up name): the
 * broker acknowledges them (so that the device's outbox moves on rather
 * than resending them forever) and drops them. Each is counted; the first
 * from a device on a topic is logged, later ones only counted, so that a
 * device publishing a value a second is one line, not a log storm.
 */
import type { PublishPacket } from 'aedes';
import type { Logger } from 'pino';

/** The topic a dropped message is moved to: subscribed by nobody, forwarded to nobody, never retained. */
export const DROPPED_TOPIC = '$outpost/dropped';
/** Device and topic pairs remembered as logged; past this many, drops are counted only. */
const MAX_LOGGED = 10_000;
const EMPTY = Buffer.alloc(0);

/** Counts and logs dropped messages. */
export class UnplacedMessages {
  readonly #logger: Logger | undefined;
  readonly #logged = new Set<string>();
  #dropped = 0;

  constructor(logger?: Logger) {
    this.#logger = logger;
  }

  /** Messages dropped so far. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Drops `packet` (a PUBLISH aedes is authorising): it goes on to be
   * acknowledged and published, but empty, unretained and on
   * {@link DROPPED_TOPIC}, which the broker forwards to nobody. aedes has no
   * way to acknowledge a publish and not publish it.
   */
  drop(device: string, packet: PublishPacket): void {
    this.#dropped++;
    const key = `${device}\u0000${packet.topic}`;
    if (!this.#logged.has(key) && this.#logged.size < MAX_LOGGED) {
      this.#logged.add(key);
      this.#logger?.warn(
        { device, topic: packet.topic },
        'device published for a workload not placed on it: dropped (logged once per device and topic)',
      );
    }
    packet.topic = DROPPED_TOPIC;
    packet.retain = false;
    packet.payload = EMPTY;
  }
}
