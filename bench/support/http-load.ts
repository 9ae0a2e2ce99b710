import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Agent, type Dispatcher } from 'undici';
import YAML from 'yaml';

/** The hub's address and the admin's TLS credentials, read from a kubeconfig. */
export interface Credentials {
  readonly origin: string;
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/** Reads the server and admin credentials of a kubeconfig with embedded certificate data. */
export function credentialsOf(kubeconfigPath: string): Credentials {
  const config = YAML.parse(readFileSync(kubeconfigPath, 'utf8'));
  const decode = (data: string) => Buffer.from(data, 'base64').toString('utf8');
  const cluster = config.clusters[0].cluster;
  const user = config.users[0].user;
  return {
    origin: cluster.server,
    ca: decode(cluster['certificate-authority-data']),
    cert: decode(user['client-certificate-data']),
    key: decode(user['client-key-data']),
  };
}

/** A keep-alive HTTPS connection pool (no pipelining) presenting the admin certificate. */
export function pool(credentials: Credentials, connections: number): Agent {
  return new Agent({
    connect: { ca: credentials.ca, cert: credentials.cert, key: credentials.key },
    connections,
    pipelining: 1,
    keepAliveTimeout: 120_000,
  });
}

export interface RequestSpec {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly body?: string;
}

export interface LoadOptions {
  readonly dispatcher: Dispatcher;
  readonly origin: string;
  /** Requests kept in flight (closed loop: each worker sends the next when its last one is answered). */
  readonly inFlight: number;
  /** Stop sending after this long. */
  readonly durationMs?: number;
  /** Stop sending after this many requests in all. */
  readonly maxRequests?: number;
  /** The `i`-th request (numbered from 0 across all workers). */
  readonly request: (i: number) => RequestSpec;
  readonly expectStatus: number;
}

export interface LoadResult {
  readonly ok: number;
  readonly failed: number;
  readonly elapsedMs: number;
  /** Latency of every successful request, milliseconds. */
  readonly latencies: number[];
  /** Status and body of the first failure, if any. */
  readonly firstFailure?: string;
}

/** Sends requests in a closed loop with `inFlight` outstanding, until the duration or count is reached. */
export async function closedLoop(options: LoadOptions): Promise<LoadResult> {
  const deadline = performance.now() + (options.durationMs ?? Number.POSITIVE_INFINITY);
  const max = options.maxRequests ?? Number.POSITIVE_INFINITY;
  const latencies: number[] = [];
  let next = 0;
  let failed = 0;
  let firstFailure: string | undefined;
  const started = performance.now();
  const worker = async () => {
    while (next < max && performance.now() < deadline) {
      const spec = options.request(next++);
      const sent = performance.now();
      const response = await options.dispatcher.request({
        origin: options.origin,
        method: spec.method,
        path: spec.path,
        body: spec.body,
        headers: spec.body === undefined ? {} : { 'content-type': 'application/json' },
      });
      const body = await response.body.text();
      if (response.statusCode === options.expectStatus) latencies.push(performance.now() - sent);
      else {
        failed++;
        firstFailure ??= `${response.statusCode} ${body.slice(0, 300)}`;
      }
    }
  };
  await Promise.all(Array.from({ length: options.inFlight }, worker));
  return { ok: latencies.length, failed, elapsedMs: performance.now() - started, latencies, firstFailure };
}

/** A running baseline server process (see `bare-server.ts`). */
export interface BareServer {
  readonly origin: string;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

export interface BareServerOptions {
  /** GET routes: path → file whose bytes are the answer. */
  readonly routes?: Record<string, string>;
  /** Answer through Fastify set up as the hub sets it up, rather than plain `node:https`. @default false */
  readonly fastify?: boolean;
  /** Accept PUTs into this folder (plain `node:https` only). */
  readonly putDir?: string;
}

/** Starts `bare-server.ts` with the certificates of `pkiDir`. */
export async function startBareServer(pkiDir: string, options: BareServerOptions = {}): Promise<BareServer> {
  const script = fileURLToPath(new URL('./bare-server.ts', import.meta.url));
  const args = ['--import', 'tsx', script, '--pki', pkiDir, ...(options.fastify ? ['--fastify'] : [])];
  if (options.putDir) args.push('--put-dir', options.putDir);
  const routes = options.routes ?? {};
  for (const [path, file] of Object.entries(routes)) args.push('--route', `${path}=${file}`);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const origin = await new Promise<string>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error('bare server did not start in 30 s')), 30_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (https:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`bare server exited with ${code}`));
    });
  });
  return {
    origin,
    process: child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await exited;
    },
  };
}
