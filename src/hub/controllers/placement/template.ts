/**
 * Per-device parameters in workload objects: `${device.name}`,
 * `${device.labels.KEY}` and `${device.annotations.KEY}` in any string (map
 * keys included) are replaced by the device's values; `$${` is a literal `${`.
 * Any other `${...}` (a shell's `${HOME}` in a container command) is left as
 * written, so that commands need no escaping.
 */

/** What a template may read of a device. */
export interface DeviceParameters {
  readonly name: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** A parameter a device lacks (or one that does not exist), named as written: `device.labels.site`. */
export class MissingParameterError extends Error {
  override name = 'MissingParameterError';
  constructor(readonly parameter: string) {
    super(`parameter \${${parameter}} is not set on the device`);
  }
}

const PREFIX = 'device.';

/** The parameters (`device.labels.site`, ...) used by every string in `value`, keys included. */
export function parametersOf(value: unknown): Set<string> {
  const found = new Set<string>();
  walkStrings(value, (text) => {
    for (const part of parse(text)) if (typeof part !== 'string') found.add(part.parameter);
  });
  return found;
}

/** Whether a value uses any parameter or escape (else it renders to itself for every device). */
export function isTemplated(value: unknown): boolean {
  let templated = false;
  walkStrings(value, (text) => {
    if (text.includes('${')) templated = true;
  });
  return templated;
}

/**
 * The value of one parameter for a device.
 * @throws MissingParameterError when the device lacks it or the name is not a known parameter.
 */
export function parameterValue(parameter: string, device: DeviceParameters): string {
  if (parameter === 'device.name') return device.name;
  for (const [prefix, map] of [
    ['device.labels.', device.labels],
    ['device.annotations.', device.annotations],
  ] as const) {
    if (parameter.startsWith(prefix) && parameter.length > prefix.length) {
      const value = map?.[parameter.slice(prefix.length)];
      if (value === undefined) throw new MissingParameterError(parameter);
      return value;
    }
  }
  throw new MissingParameterError(parameter);
}

/**
 * `value` with every string (and map key) expanded for `device`. Parts
 * without any `${` are shared with the input, not copied (10,000 devices
 * rendering one Deployment copy only the paths to its parameters); the
 * result must therefore be treated as read-only, as the input is.
 * @throws MissingParameterError naming the first parameter the device lacks.
 */
export function expand<T>(value: T, device: DeviceParameters): T {
  return expandValue(value, device) as T;
}

function expandValue(value: unknown, device: DeviceParameters): unknown {
  if (typeof value === 'string') return expandString(value, device);
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item = expandValue(value[i], device);
      if (item !== value[i] && !copy) copy = value.slice(0, i);
      copy?.push(item);
    }
    return copy ?? value;
  }
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value);
    let copy: Record<string, unknown> | undefined;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const original = (value as Record<string, unknown>)[key];
      const expandedKey = expandString(key, device);
      const item = expandValue(original, device);
      if (!copy && (item !== original || expandedKey !== key)) {
        copy = {};
        for (let j = 0; j < i; j++) setKey(copy, keys[j]!, (value as Record<string, unknown>)[keys[j]!]);
      }
      if (copy) setKey(copy, expandedKey, item);
    }
    return copy ?? value;
  }
  return value;
}

function setKey(target: Record<string, unknown>, key: string, value: unknown): void {
  // defineProperty for `__proto__` only: assigning it would set the prototype instead of a key.
  if (key === '__proto__') {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

/** Expands one string. */
export function expandString(text: string, device: DeviceParameters): string {
  if (!text.includes('${')) return text;
  let result = '';
  for (const part of parse(text)) {
    result += typeof part === 'string' ? part : parameterValue(part.parameter, device);
  }
  return result;
}

type Part = string | { parameter: string };

/** Splits a string into literal text and `${device...}` references, resolving `$${` escapes. */
function parse(text: string): Part[] {
  const parts: Part[] = [];
  let literal = '';
  let i = 0;
  while (i < text.length) {
    if (text.startsWith('$${', i)) {
      literal += '${';
      i += 3;
      continue;
    }
    if (text.startsWith(`\${${PREFIX}`, i)) {
      const end = text.indexOf('}', i + 2);
      if (end >= 0) {
        if (literal) parts.push(literal);
        literal = '';
        parts.push({ parameter: text.slice(i + 2, end) });
        i = end + 1;
        continue;
      }
    }
    literal += text[i];
    i++;
  }
  if (literal) parts.push(literal);
  return parts;
}

function walkStrings(value: unknown, visit: (text: string) => void): void {
  if (typeof value === 'string') visit(value);
  else if (Array.isArray(value)) for (const item of value) walkStrings(item, visit);
  else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      visit(key);
      walkStrings(item, visit);
    }
  }
}
