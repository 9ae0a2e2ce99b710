/**
 * The logger of every long-running `outpost` command (hub, agent, plc-sim,
 * opcua-connector): pino, writing JSON lines (for a log collector) or short
 * readable lines (for a person at a terminal) to stderr. Secrets are
 * redacted from either before they are written.
 *
 * The text format is a few lines of our own rather than pino-pretty: one
 * dependency fewer, and nothing loaded into the agent that a device does
 * not need.
 */
import { writeSync } from 'node:fs';
import pino, { type DestinationStream, type Logger } from 'pino';

/** How log lines look: `json` (one object per line) or `text` (`12:00:01 WARN message key=value`). */
export type LogFormat = 'text' | 'json';

/** The levels `--log-level` accepts. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** The formats `--log-format` accepts. */
export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json'];

/** Options of {@link createLogger}. */
export interface CliLoggerOptions {
  /** @default 'info' */
  readonly level?: string;
  /** @default 'text' when stderr is a terminal, else 'json' */
  readonly format?: LogFormat;
  /** Where lines go. @default 2 (stderr) */
  readonly fd?: number;
}

/**
 * Field names whose values are never written, at the top of a log object or
 * one level down (`{ err: { token } }`): bootstrap tokens, keys, passwords,
 * bearer tokens. pino replaces them with `[redacted]`.
 */
const SECRET_FIELDS = [
  'token',
  'bootstrapToken',
  'secret',
  'password',
  'key',
  'keyPem',
  'privateKey',
  'clientKey',
  'serverKey',
  'encryptionKey',
  'authorization',
  'cookie',
];

/** pino's `redact.paths` for {@link SECRET_FIELDS}, including request headers. */
export const REDACTED_PATHS: readonly string[] = [
  ...SECRET_FIELDS,
  ...SECRET_FIELDS.map((field) => `*.${field}`),
  'req.headers.authorization',
  'req.headers.cookie',
];

/** The format to use when none is asked for: readable on a terminal, JSON for anything else. */
export function defaultLogFormat(fd = 2): LogFormat {
  return (fd === 2 ? process.stderr.isTTY : fd === 1 ? process.stdout.isTTY : false) ? 'text' : 'json';
}

/** A pino logger for a command, in the asked or the default format, with secrets redacted. */
export function createLogger(options: CliLoggerOptions = {}): Logger {
  const fd = options.fd ?? 2;
  const format = options.format ?? defaultLogFormat(fd);
  const settings = {
    level: options.level ?? 'info',
    redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' },
  };
  // Synchronous writes in both formats: a line logged just before a crash or exit is not lost.
  return pino(settings, format === 'text' ? textDestination(fd) : pino.destination({ fd, sync: true }));
}

const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

/** Fields every line has that the text format shows otherwise or not at all. */
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname']);

/**
 * One pino JSON line as text: `HH:MM:SS LEVEL message  key=value ...`; an
 * error field shows its message (the stack stays in the JSON format).
 */
export function formatLogLine(line: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const time = typeof entry.time === 'number' ? new Date(entry.time) : new Date();
  const clock = `${pad(time.getHours())}:${pad(time.getMinutes())}:${pad(time.getSeconds())}`;
  const level = (LEVEL_NAMES[entry.level as number] ?? String(entry.level)).padEnd(5);
  const fields = Object.entries(entry)
    .filter(([name]) => !HIDDEN.has(name))
    .map(([name, value]) => `${name}=${formatValue(value)}`);
  const message = typeof entry.msg === 'string' ? entry.msg : '';
  return `${clock} ${level} ${message}${fields.length > 0 ? `  ${fields.join(' ')}` : ''}\n`;
}

function formatValue(value: unknown): string {
  if (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as { message?: unknown }).message === 'string'
  )
    return quote((value as { message: string }).message);
  if (typeof value === 'string') return quote(value);
  return JSON.stringify(value) ?? String(value);
}

/** A string as is when it is one plain word, else JSON-quoted (so control characters cannot forge lines). */
function quote(text: string): string {
  return /^[\w.:/@+-]+$/.test(text) ? text : JSON.stringify(text);
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** A pino destination that writes each line to `fd` as text, synchronously. */
function textDestination(fd: number): DestinationStream {
  return {
    write(line: string) {
      try {
        writeSync(fd, formatLogLine(line));
      } catch {
        // stderr closed (EPIPE, a closed terminal): nothing to be done about a log line
      }
    },
  };
}
