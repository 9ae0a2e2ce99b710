/** What the views work out from the objects: selectors, levels, ages, failure reasons. */
import type { Device, LabelSelector, Summary } from './objects.ts';

type Requirement = (labels: Record<string, string>) => boolean;

/**
 * Parses a label selector as kubectl writes one (`a=b,c!=d,e,!f,g in (x,y),h notin (z)`) into a
 * predicate; undefined when the text is not a selector.
 */
export function parseSelector(text: string): Requirement | undefined {
  const parts = text.match(/[^,(]+(\([^)]*\))?/g) ?? [];
  const requirements: Requirement[] = [];
  for (const raw of parts) {
    const part = raw.trim();
    if (!part) continue;
    const set = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(part);
    const equality = /^([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)$/.exec(part);
    const absent = /^!\s*([\w./-]+)$/.exec(part);
    const present = /^([\w./-]+)$/.exec(part);
    if (set) {
      const [, key, op, list] = set as unknown as [string, string, string, string];
      const values = new Set(list.split(',').map((value) => value.trim()));
      requirements.push((labels) =>
        op === 'in'
          ? key in labels && values.has(labels[key]!)
          : !(key in labels) || !values.has(labels[key]!),
      );
    } else if (equality) {
      const [, key, op, value] = equality as unknown as [string, string, string, string];
      requirements.push((labels) => (op === '!=' ? labels[key] !== value : labels[key] === value));
    } else if (absent) {
      const key = absent[1]!;
      requirements.push((labels) => !(key in labels));
    } else if (present) {
      const key = present[1]!;
      requirements.push((labels) => key in labels);
    } else return undefined;
  }
  return (labels) => requirements.every((requirement) => requirement(labels));
}

/** A device's ISA-95 level as its Device declares it (`spec.level`), or a dash when it declares none. */
export function levelOf(device: Device): string {
  return device.spec?.level === undefined ? '—' : String(device.spec.level);
}

/** The levels the devices declare, highest (nearest the enterprise) first; a dash for none last. */
export function declaredLevels(devices: Iterable<Device>): string[] {
  const found = new Set<string>();
  for (const device of devices) found.add(levelOf(device));
  const rank = (level: string) => (level === '—' ? -1 : Number(level));
  return [...found].sort((a, b) => rank(b) - rank(a));
}

/** Whether `selector` (a Placement's deviceSelector) selects `labels`: every requirement holds. */
export function selects(selector: LabelSelector | undefined, labels: Record<string, string>): boolean {
  for (const [key, value] of Object.entries(selector?.matchLabels ?? {}))
    if (labels[key] !== value) return false;
  for (const { key, operator, values = [] } of selector?.matchExpressions ?? []) {
    const present = key in labels;
    if (operator === 'Exists' && !present) return false;
    if (operator === 'DoesNotExist' && present) return false;
    if (operator === 'In' && !(present && values.includes(labels[key]!))) return false;
    if (operator === 'NotIn' && present && values.includes(labels[key]!)) return false;
  }
  return true;
}

/** "12 s", "5 min", "3 h", "2 d". */
function span(seconds: number): string {
  if (seconds < 90) return `${seconds} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 129600) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} d`;
}

/** "12 s ago", "5 min ago", "3 h ago", "2 d ago". */
export function age(time: string | undefined, now = Date.now()): string {
  if (!time) return 'never';
  return `${span(Math.max(0, Math.round((now - Date.parse(time)) / 1000)))} ago`;
}

/** A week: a certificate expiring sooner than this is shown as a problem (the agent renews at two thirds). */
const SOON_SECONDS = 7 * 86400;

/**
 * A device's certificate expiry (`status.certificate.notAfter`) as a person reads it: "in 29 d",
 * "expired 3 h ago", "unknown" (enrolled before the hub recorded it); `soon` when under a week.
 */
export function certificateExpiry(device: Device, now = Date.now()): { text: string; soon: boolean } {
  const notAfter = device.status?.certificate?.notAfter;
  if (!notAfter) return { text: 'unknown', soon: false };
  const seconds = Math.round((Date.parse(notAfter) - now) / 1000);
  if (seconds <= 0) return { text: `expired ${span(-seconds)} ago`, soon: true };
  return { text: `in ${span(seconds)}`, soon: seconds < SOON_SECONDS };
}

/** Counts of `key(item)` over `items`, largest first. */
export function countBy<T>(items: Iterable<T>, key: (item: T) => string | undefined): [string, number][] {
  const counts = new Map<string, number>();
  for (const item of items) {
    const value = key(item);
    if (value !== undefined) counts.set(value, (counts.get(value) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

/** Failure reasons summed over summaries (Workloads'), as `[reason, devices]` largest first. */
export function failureReasons(summaries: Iterable<Summary | undefined>): [string, number][] {
  const counts = new Map<string, number>();
  for (const summary of summaries)
    for (const { reason, count } of summary?.failureReasons ?? [])
      counts.set(reason, (counts.get(reason) ?? 0) + count);
  return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

/** A device's workloads running / failed, from its heartbeat's summary. */
export function workloadCounts(device: Device): { running: number; failed: number } {
  let running = 0;
  let failed = 0;
  for (const workload of device.status?.workloads ?? []) {
    running += workload.running ?? 0;
    failed += workload.failed ?? 0;
  }
  return { running, failed };
}
