import { readdir, readFile, statfs } from 'node:fs/promises';
import { freemem, loadavg, totalmem } from 'node:os';

/**
 * The metrics the agent measures itself: `cpu` (busy share of all CPUs
 * since the previous sample, from /proc/stat), `memory` (share not
 * available), `disk` (share used of the data dir's filesystem, as df counts
 * it), all percentages from 0 to 100, `load1`, and `temperature` (°C, the
 * hottest thermal zone) where the host exposes /sys/class/thermal.
 */
export class DeviceMetrics {
  readonly #dataDir: string;
  #cpu: { busy: number; total: number } | undefined;
  #zones: string[] | undefined;

  constructor(dataDir: string) {
    this.#dataDir = dataDir;
  }

  /** One sample; metrics that cannot be read are left out (nil). */
  async sample(): Promise<Map<string, number>> {
    const values = new Map<string, number>();
    const cpu = await this.#cpuPercent();
    if (cpu !== undefined) values.set('cpu', cpu);
    const total = totalmem();
    values.set('memory', round(((total - freemem()) / total) * 100));
    const disk = await statfs(this.#dataDir).catch(() => undefined);
    if (disk && disk.blocks > 0) {
      const used = disk.blocks - disk.bfree;
      values.set('disk', round((used / (used + disk.bavail)) * 100));
    }
    values.set('load1', round(loadavg()[0]!));
    const temperature = await this.#temperature();
    if (temperature !== undefined) values.set('temperature', temperature);
    return values;
  }

  async #cpuPercent(): Promise<number | undefined> {
    const text = await readFile('/proc/stat', 'utf8').catch(() => undefined);
    const fields = text?.slice(0, text.indexOf('\n')).trim().split(/\s+/).slice(1).map(Number);
    if (!fields || fields.length < 4 || fields.some((n) => !Number.isFinite(n))) return undefined;
    const total = fields.reduce((a, b) => a + b, 0);
    // idle + iowait are not busy.
    const busy = total - fields[3]! - (fields[4] ?? 0);
    const previous = this.#cpu;
    this.#cpu = { busy, total };
    if (!previous || total <= previous.total) return undefined;
    return round(((busy - previous.busy) / (total - previous.total)) * 100);
  }

  async #temperature(): Promise<number | undefined> {
    this.#zones ??= (await readdir('/sys/class/thermal').catch(() => [] as string[])).filter((zone) =>
      zone.startsWith('thermal_zone'),
    );
    let hottest: number | undefined;
    for (const zone of this.#zones) {
      const text = await readFile(`/sys/class/thermal/${zone}/temp`, 'utf8').catch(() => undefined);
      const milli = Number(text?.trim());
      if (text !== undefined && Number.isFinite(milli))
        hottest = Math.max(hottest ?? -Infinity, milli / 1000);
    }
    return hottest === undefined ? undefined : round(hottest);
  }
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
