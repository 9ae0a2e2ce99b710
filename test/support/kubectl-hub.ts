/**
 * kubectl against a hub process: a hub driven by the machine's kubectl, a
 * streaming kubectl for `get -w` and `wait`, `kubectl get -o yaml` parsed, and a
 * parser for kubectl's tables.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import YAML from 'yaml';
import { type ApiClient, apiClient } from './https-client.ts';
import { type CommandResult, type HubProcess, kubectl, removeDir, startHubProcess } from './hub-process.ts';

/** A running hub with kubectl and an admin API client pointed at it. */
export interface KubectlHub {
  readonly hub: HubProcess;
  readonly api: ApiClient;
  /** Runs kubectl against the hub (own discovery cache); any exit code. */
  run(args: readonly string[], input?: string): Promise<CommandResult>;
  /** Runs kubectl and fails the test unless it exits 0; returns its stdout. */
  ok(args: readonly string[], input?: string): Promise<string>;
  /** Runs kubectl and fails the test unless it exits non-zero; returns its stderr. */
  fails(args: readonly string[], input?: string): Promise<string>;
  /** Starts a long-running kubectl (`get -w`, `wait`) with request logging on stderr. */
  stream(args: readonly string[]): KubectlStream;
  stop(): Promise<void>;
}

/** Starts `outpost hub` as a process (with `args`) and readies kubectl and an API client for it. */
export async function startKubectlHub(options: { args?: readonly string[] } = {}): Promise<KubectlHub> {
  const hub = await startHubProcess({ args: options.args });
  const api = apiClient(hub.kubeconfig);
  // A cache folder of the hub's own, so that no discovery from another run is reused.
  const cache = ['--cache-dir', join(hub.dataDir, 'kube-cache')];
  const run = (args: readonly string[], input?: string) => kubectl(hub, [...cache, ...args], input);
  const streams: KubectlStream[] = [];
  return {
    hub,
    api,
    run,
    async ok(args, input) {
      const result = await run(args, input);
      assert.equal(result.code, 0, `kubectl ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
      return result.stdout;
    },
    async fails(args, input) {
      const result = await run(args, input);
      assert.notEqual(result.code, 0, `kubectl ${args.join(' ')} should have failed: ${result.stdout}`);
      return result.stderr;
    },
    stream(args) {
      const stream = new KubectlStream(['--kubeconfig', hub.kubeconfig, ...cache, '-v=6', ...args]);
      streams.push(stream);
      return stream;
    },
    async stop() {
      for (const stream of streams) await stream.stop();
      await api.close();
      await hub.stop();
      await removeDir(hub.dataDir);
    },
  };
}

/**
 * A kubectl that keeps running. Its stdout is what a user sees; its stderr,
 * at `-v=6`, logs each request, which tells when its watch is established.
 */
export class KubectlStream {
  readonly #child: ChildProcess;
  #stdout = '';
  #stderr = '';
  readonly #exited: Promise<number>;
  readonly #listeners = new Set<() => void>();

  constructor(args: readonly string[]) {
    this.#child = spawn('kubectl', [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child.stdout!.on('data', (chunk: Buffer) => {
      this.#stdout += chunk.toString();
      this.#notify();
    });
    this.#child.stderr!.on('data', (chunk: Buffer) => {
      this.#stderr += chunk.toString();
      this.#notify();
    });
    this.#exited = new Promise((resolve) => {
      this.#child.once('exit', (code) => {
        resolve(code ?? 1);
        this.#notify();
      });
    });
  }

  /** Everything kubectl printed so far. */
  get stdout(): string {
    return this.#stdout;
  }

  /** kubectl's request log and errors so far. */
  get stderr(): string {
    return this.#stderr;
  }

  /** Resolves once the watch request got its response headers: later changes reach it. */
  watching(timeoutMs = 30_000): Promise<void> {
    return this.#until(() => /watch=true\S* 200 OK/.test(this.#stderr), 'the watch to start', timeoutMs);
  }

  /** Resolves with stdout once it matches `pattern`. */
  async printed(pattern: RegExp, timeoutMs = 30_000): Promise<string> {
    await this.#until(() => pattern.test(this.#stdout), `stdout to match ${pattern}`, timeoutMs);
    return this.#stdout;
  }

  /** Resolves with the exit code. */
  exit(): Promise<number> {
    return this.#exited;
  }

  /** Stops kubectl (SIGTERM) and waits for its exit. */
  async stop(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGTERM');
    await this.#exited;
  }

  #notify(): void {
    for (const listener of this.#listeners) listener();
  }

  #until(condition: () => boolean, what: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (condition()) {
          done();
          resolve();
        } else if (this.#child.exitCode !== null || this.#child.signalCode !== null) {
          done();
          reject(new Error(`kubectl exited before ${what}:\n${this.#stdout}\n${this.#stderr}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${what}:\n${this.#stdout}\n${this.#stderr}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#listeners.delete(check);
      };
      this.#listeners.add(check);
      check();
    });
  }
}

/** A kubectl table (`get` without `-o`) as its header and rows of cells. */
export interface ParsedTable {
  readonly header: string[];
  readonly rows: Array<Record<string, string>>;
}

/** Parses kubectl's table output: columns are separated by at least two spaces. */
export function parseTable(stdout: string): ParsedTable {
  const lines = stdout.split('\n').filter((line) => line.trim() !== '');
  const header = (lines[0] ?? '').trim().split(/\s{2,}/);
  const rows = lines.slice(1).map((line) => {
    const cells = line.trim().split(/\s{2,}/);
    return Object.fromEntries(header.map((name, index) => [name, cells[index] ?? '']));
  });
  return { header, rows };
}

/** The names in the NAME column of a table. */
export function namesIn(stdout: string): string[] {
  return parseTable(stdout)
    .rows.map((row) => row.NAME ?? '')
    .sort();
}

/** `kubectl ARGS` that must succeed; returns stdout. */
export async function kubectlOk(hub: HubProcess, args: readonly string[], input?: string): Promise<string> {
  const result = await kubectl(hub, args, input);
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

/** An object as `kubectl get -o yaml` shows it (what the tests look at). */
export interface ObjectYaml {
  metadata: { name: string; uid: string; generation?: number };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

/** `kubectl get ARGS -o yaml`, parsed; undefined when kubectl cannot get it. */
export async function kubectlGet<T = ObjectYaml>(hub: HubProcess, ...args: string[]): Promise<T | undefined> {
  const result = await kubectl(hub, ['get', ...args, '-o', 'yaml']);
  return result.code === 0 ? (YAML.parse(result.stdout) as T) : undefined;
}
