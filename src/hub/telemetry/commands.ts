/**
 * Commands to a device's connector: published as `{"id","value"}` on
 * `devices/<d>/commands/<ns>/<connector>/<feature>` (QoS 1), answered by an
 * ack `{"id","ok","statusCode","error"?}` on `devices/<d>/acks/<ns>/<connector>`
 * that the waiting request gets. An ack counts only from the device the
 * command went to, for the same connector.
 */
import { randomUUID } from 'node:crypto';
import type { MessageBus } from './bus.ts';
import type { AckMessage, LatestValues } from './latest-values.ts';
import { commandTopic } from './topics.ts';

/** What to write, where. */
export interface Command {
  readonly device: string;
  readonly namespace: string;
  readonly connector: string;
  readonly feature: string;
  readonly value: unknown;
}

/** A connector's answer to a command. */
export interface CommandAck {
  readonly id: string;
  readonly ok: boolean;
  /** The OPC UA status code's name (`Good`, `BadTypeMismatch`, ...). */
  readonly statusCode: string;
  readonly error?: string;
}

/** The device did not acknowledge in time. */
export class CommandTimeoutError extends Error {
  constructor(
    readonly command: Command & { readonly id: string },
    readonly timeoutMs: number,
  ) {
    super(
      `device "${command.device}" did not acknowledge the command to ${command.namespace}/${command.connector} ${command.feature} within ${timeoutMs / 1000} s`,
    );
  }
}

/** Options of {@link CommandDispatcher}. */
export interface CommandDispatcherOptions {
  /** How long to wait for an ack. @default 10_000 */
  readonly timeoutMs?: number;
}

interface Pending {
  readonly device: string;
  readonly namespace: string;
  readonly connector: string;
  resolve(ack: CommandAck): void;
}

/** Sends commands and matches acks to them. */
export class CommandDispatcher {
  readonly #pending = new Map<string, Pending>();
  readonly #bus: MessageBus;
  readonly #timeoutMs: number;

  /** `latest` delivers the acks (it follows the same broker as `bus`). */
  constructor(bus: MessageBus, latest: LatestValues, options: CommandDispatcherOptions = {}) {
    this.#bus = bus;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    latest.onAck((ack) => this.#onAck(ack));
  }

  /**
   * Publishes `command` and resolves with the device's ack.
   * @throws CommandTimeoutError when no ack came within the timeout (or `signal` aborted).
   */
  async send(command: Command, signal?: AbortSignal): Promise<CommandAck & { readonly device: string }> {
    const id = randomUUID();
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    // Registered before publishing: an ack may come back before publish() resolves.
    const acked = new Promise<CommandAck>((resolve, reject) => {
      this.#pending.set(id, {
        device: command.device,
        namespace: command.namespace,
        connector: command.connector,
        resolve,
      });
      timer = setTimeout(
        () => reject(new CommandTimeoutError({ ...command, id }, this.#timeoutMs)),
        this.#timeoutMs,
      );
      onAbort = () => reject(signal?.reason ?? new Error('aborted'));
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      const topic = commandTopic(command.device, command.namespace, command.connector, command.feature);
      await this.#bus.publish(topic, JSON.stringify({ id, value: command.value }), { qos: 1 });
      const ack = await acked;
      return { ...ack, device: command.device };
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
      this.#pending.delete(id);
    }
  }

  /** Commands waiting for their ack. */
  get pending(): number {
    return this.#pending.size;
  }

  #onAck(message: AckMessage): void {
    const { body } = message;
    if (typeof body.id !== 'string') return;
    const pending = this.#pending.get(body.id);
    // Another device (or connector) cannot answer for this one.
    if (
      !pending ||
      pending.device !== message.device ||
      pending.namespace !== message.namespace ||
      pending.connector !== message.connector
    )
      return;
    this.#pending.delete(body.id);
    pending.resolve({
      id: body.id,
      ok: body.ok === true,
      statusCode: typeof body.statusCode === 'string' ? body.statusCode : body.ok === true ? 'Good' : 'Bad',
      ...(typeof body.error === 'string' ? { error: body.error } : {}),
    });
  }
}
