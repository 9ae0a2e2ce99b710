/**
 * Three network levels on one machine, for the nested-network tests (root
 * only): the levels of `src/util/network-levels.ts` (namespaces `opl<id>-l4`,
 * `-l3`, `-l2` joined by veth pairs, each level reaching only the one above),
 * with probes a test asks from inside a level: a TCP connection, a CONNECT
 * through a proxy.
 */
import { randomBytes } from 'node:crypto';
import {
  canBuildLevels,
  createNetworkLevels,
  type LevelNumber,
  type NetworkLevels,
} from '../../src/util/index.ts';

export type { Level, LevelNumber } from '../../src/util/index.ts';
export { canBuildLevels };

/** Three levels under the root namespace, with a test's probes. */
export interface Levels extends NetworkLevels {
  /**
   * Opens a TCP connection from inside the level to `host:port`: `ok`, or the
   * error's code (`ENETUNREACH`: no route; `ECONNREFUSED`: reached, nothing listens), or `TIMEOUT`.
   */
  reach(level: LevelNumber, host: string, port: number): Promise<string>;
  /**
   * Asks the proxy at `proxy` (`host:port`) from inside the level to CONNECT to
   * `target` (`host:port`): the HTTP status it answers as text (`200`, `403`),
   * or the connection's error code as {@link reach} gives it.
   */
  proxyConnect(level: LevelNumber, proxy: string, target: string): Promise<string>;
}

/** What every probe script starts with: `net`, `s`, `done(word)` (prints it and exits), errors and a 10 s limit. */
const PROBE_PRELUDE =
  "const net=require('node:net');let s;const done=(w)=>{console.log(w);process.exit(0)};" +
  // A connection's unhandled 'error' event arrives here.
  "setTimeout(()=>done('TIMEOUT'),10000);process.on('uncaughtException',(e)=>done(e.code||e.message));";

function splitHostPort(text: string): [string, number] {
  const at = text.lastIndexOf(':');
  return [text.slice(0, at).replace(/^\[|\]$/g, ''), Number(text.slice(at + 1))];
}

/** Builds the three levels (see src/util/network-levels.ts). Call `remove()` in the test's `after`. */
export async function createLevels(): Promise<Levels> {
  const built = await createNetworkLevels(`opl${randomBytes(3).toString('hex')}`);
  /** Runs a connecting script with node inside the level; it prints one word. */
  const probe = async (level: LevelNumber, script: string) =>
    (await built.exec(level, process.execPath, ['-e', `${PROBE_PRELUDE}${script}`])).stdout.trim() ||
    'NO ANSWER';
  return {
    ...built,
    reach: (level, host, port) =>
      probe(level, `s=net.connect(${port},${JSON.stringify(host)});s.on('connect',()=>done('ok'))`),
    proxyConnect(level, proxy, target) {
      const [host, port] = splitHostPort(proxy);
      return probe(
        level,
        `s=net.connect(${port},${JSON.stringify(host)});let t='';` +
          `s.on('connect',()=>s.write('CONNECT ${target} HTTP/1.1\\r\\nHost: ${target}\\r\\n\\r\\n'));` +
          `s.on('data',(c)=>{t+=c;const m=/^HTTP\\/1\\.[01] (\\d{3})/.exec(t);if(m)done(m[1])});` +
          `s.on('close',()=>done('CLOSED'))`,
      );
    },
  };
}
