import { endTied, type PodmanHost } from './exec.ts';

/**
 * A container's output through `podman logs` (k8s-file log driver, size
 * bounded by the agent's containers.conf), stdout and stderr interleaved as
 * they arrive, yielded as chunks of whole lines. With `follow`, it keeps
 * yielding until `signal` aborts or the consumer stops iterating; either way
 * the podman process (tied to the agent, so an agent killed meanwhile leaves
 * none behind) is ended.
 */
export async function* podmanLogs(
  host: PodmanHost,
  container: string,
  options: { tail?: number; follow?: boolean; signal?: AbortSignal },
): AsyncGenerator<string> {
  const args = ['logs'];
  if (options.tail !== undefined) args.push('--tail', String(Math.max(0, Math.floor(options.tail))));
  if (options.follow) args.push('--follow');
  args.push(container);
  if (options.signal?.aborted) return;
  const child = host.spawnTied(args);
  child.stdin?.on('error', () => {}); // the shell gone first
  const queue: string[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  let failure = '';
  const partial = { out: '', err: '' };
  const push = (stream: 'out' | 'err', text: string) => {
    const joined = partial[stream] + text;
    const cut = joined.lastIndexOf('\n') + 1;
    partial[stream] = joined.slice(cut);
    if (cut > 0) queue.push(joined.slice(0, cut));
    wake?.();
  };
  child.stdout?.setEncoding('utf8').on('data', (text: string) => push('out', text));
  child.stderr?.setEncoding('utf8').on('data', (text: string) => push('err', text));
  child.on('error', (error) => {
    failure = error.message;
  });
  child.on('close', (code) => {
    for (const stream of ['out', 'err'] as const) if (partial[stream]) queue.push(`${partial[stream]}\n`);
    if (code !== 0 && code !== null && queue.length === 0) failure ||= `podman logs exited with code ${code}`;
    ended = true;
    wake?.();
  });
  const abort = () => endTied(child);
  options.signal?.addEventListener('abort', abort, { once: true });
  try {
    while (true) {
      const chunk = queue.splice(0).join('');
      if (chunk) yield chunk;
      else if (ended || options.signal?.aborted) break;
      else await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
    if (failure && !options.signal?.aborted) throw new Error(failure);
  } finally {
    options.signal?.removeEventListener('abort', abort);
    if (!ended) endTied(child);
  }
}
