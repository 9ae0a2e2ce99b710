/**
 * The managedFields bookkeeping of one heartbeat (`recordUpdate` of a Device status write that
 * changes only `lastHeartbeatTime` and `outboxSequence`, the agent's own fields), in this checkout
 * and in another (`ROOT`), rounds interleaved in one process so that both see the same load:
 *
 *   ROOT=/path/to/other/checkout node --import tsx bench/heartbeat-managed-fields.ts
 */
import { fileURLToPath } from 'node:url';
import { statusParts } from './fleet/device.ts';

/** What this uses of `src/hub/kube-api/apply/` (loaded by path from either checkout, not through the hub's door). */
interface Module {
  recordUpdate(options: {
    before: object | undefined;
    after: object;
    managedFields: unknown;
    manager: string;
    subresource: string;
    schema: unknown;
    now: Date;
  }): unknown[];
  schemaInfoFrom(schema: unknown): unknown;
}
type Api = typeof import('../src/api/index.ts');
const here = fileURLToPath(new URL('..', import.meta.url));
const other = process.env.ROOT;
if (!other) throw new Error('ROOT=<the other checkout> is required');
const load = async (root: string) => ({
  apply: (await import(`${root}/src/hub/kube-api/apply/index.ts`)) as Module,
  api: (await import(`${root}/src/api/index.ts`)) as Api,
});
const sides = { this: await load(here), other: await load(other) };

const ROUND = 5000;
const [head, middle, tail] = statusParts('device-1');
const device = (seq: number) => ({
  apiVersion: 'outpost.dev/v1alpha1',
  kind: 'Device',
  metadata: { name: 'device-1', uid: 'u', resourceVersion: String(seq) },
  spec: { heartbeat: { periodSeconds: 15 } },
  ...JSON.parse(`${head}2026-12-08T01:00:${String(seq % 60).padStart(2, '0')}.000Z${middle}${seq}${tail}`),
});

function round({ apply, api }: (typeof sides)['this']): number {
  const def = new api.KindRegistry(api.ALL_KINDS).byKind('outpost.dev/v1alpha1', 'Device')!;
  const schema = apply.schemaInfoFrom(def.schema);
  let live = device(0);
  live.metadata.managedFields = apply.recordUpdate({
    before: undefined,
    after: live,
    managedFields: undefined,
    manager: 'outpost-agent',
    subresource: 'status',
    schema,
    now: new Date(),
  });
  const started = process.cpuUsage();
  for (let i = 1; i <= ROUND; i++) {
    const next = device(i);
    // As a write reads it: the stored managedFields parsed from text.
    const entries = JSON.parse(JSON.stringify(live.metadata.managedFields));
    next.metadata.managedFields = apply.recordUpdate({
      before: live,
      after: next,
      managedFields: entries,
      manager: 'outpost-agent',
      subresource: 'status',
      schema,
      now: new Date(),
    });
    live = next;
  }
  const used = process.cpuUsage(started);
  return (used.user + used.system) / ROUND;
}

const results: Record<'this' | 'other', number[]> = { this: [], other: [] };
round(sides.this);
round(sides.other);
for (let i = 0; i < 5; i++) {
  results.other.push(round(sides.other));
  results.this.push(round(sides.this));
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[2]!;
for (const side of ['other', 'this'] as const)
  console.log(
    `${side === 'this' ? here : other}: recordUpdate of a heartbeat, median of 5 rounds of ${ROUND}: ${median(results[side]).toFixed(1)} µs CPU [${results[side].map((v) => v.toFixed(1)).join(', ')}]`,
  );
