import assert from 'node:assert/strict';
import { hash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '../../../../test/support/index.ts';
import type { MailboxObject } from '../../../api/index.ts';
import { desiredStateOf } from '../../reconcile/index.ts';
import type { DesiredUnit, Runtime, UnitStatus } from '../runtime.ts';
import { detectLimitMechanism, removeLimitRoots } from './limits.ts';
import { createProcessRuntime } from './process-runtime.ts';

/** Whether this process may lower an oom_score_adj (CAP_SYS_RESOURCE, bit 24; this project's VMs drop it). */
function canLowerOomScore(): boolean {
  const hex = /^CapEff:\s+([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0';
  return ((BigInt(`0x${hex}`) >> 24n) & 1n) === 1n;
}

const source = { namespace: 'team-a', workload: 'limits', placement: 'all' };

/** A Pod that never restarts, with a 64Mi memory limit (and a CPU one), running `script`. */
function pod(name: string, script: string): DesiredUnit {
  const entry: MailboxObject = {
    source,
    hash: `sha256:${name}`,
    object: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'team-a' },
      spec: {
        restartPolicy: 'Never',
        terminationGracePeriodSeconds: 1,
        containers: [
          {
            name: 'main',
            command: ['sh', '-c', script],
            resources: { limits: { memory: '64Mi', cpu: '500m' } },
          },
        ],
      },
    } as MailboxObject['object'],
  };
  const unit = desiredStateOf([entry]).units[0];
  assert.ok(unit);
  return unit;
}

/** Reads 200 MB into one shell variable: three times the limit. */
const HUNGRY = 'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived; echo "$x" | wc -c';

async function statusOf(runtime: Runtime, id: string, done: (s: UnitStatus) => boolean): Promise<UnitStatus> {
  const deadline = performance.now() + 20_000;
  for (;;) {
    const status = (await runtime.list()).find((u) => u.id === id)?.status;
    if (status && done(status)) return status;
    if (performance.now() > deadline) throw new Error(`timed out: ${JSON.stringify(status)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

for (const cgroups of ['off', 'auto'] as const) {
  describe(`process runtime limits (--cgroups ${cgroups})`, () => {
    let dir: string;
    let runtime: Runtime;
    const mechanism = detectLimitMechanism(cgroups, 'probe-test');

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'outpost-limits-'));
      runtime = createProcessRuntime({ dir, cgroups });
      await runtime.start();
    });

    after(async () => {
      await runtime.close({ stopUnits: true });
      await rm(dir, { recursive: true, force: true });
      removeLimitRoots(mechanism);
    });

    it('says in the running unit’s status which mechanism enforces its limits', async () => {
      const unit = pod('sleeper', 'sleep 30');
      await runtime.apply(unit);
      const status = await statusOf(runtime, unit.id, (s) => s.phase === 'Running');
      if (mechanism.kind === 'rlimit') {
        assert.match(
          status.message ?? '',
          /limits: memory 64Mi as RLIMIT_AS of each process \(prlimit\), cpu 500m not enforced \(no cgroup: /,
        );
      } else {
        assert.match(
          status.message ?? '',
          new RegExp(`limits: memory 64Mi, cpu 500m by cgroup ${mechanism.kind === 'cgroup1' ? 'v1' : 'v2'}`),
        );
      }
      // Guaranteed (limits only: requests default to them): the kernel's OOM killer takes it last, as kubelet says.
      const state = JSON.parse(
        readFileSync(join(dir, 'units', unit.id, 'replicas', '0', 'main', 'state.json'), 'utf8'),
      ) as { pid: number };
      // Lowering needs CAP_SYS_RESOURCE: without it the shim's write is refused and the inherited 0 stays.
      const expected = canLowerOomScore() ? '-997' : '0';
      const deadline = performance.now() + 5000;
      let score = '';
      // The shim sets it first thing, a moment after the spawn that made the unit Running.
      while (score !== expected && performance.now() < deadline) {
        score = readFileSync(`/proc/${state.pid}/oom_score_adj`, 'utf8').trim();
        if (score !== expected) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(score, expected);
      await runtime.remove(unit.id);
    });

    it('kills a container that goes past its memory limit, and lets one within it finish', async () => {
      const hungry = pod('hungry', HUNGRY);
      const modest = pod(
        'modest',
        'x=$(head -c 10000000 /dev/zero | tr "\\0" a); echo ok; echo "$x" | wc -c',
      );
      await runtime.apply(hungry);
      await runtime.apply(modest);
      const failed = await statusOf(
        runtime,
        hungry.id,
        (s) => s.phase !== 'Running' && s.phase !== 'Pending',
      );
      assert.equal(failed.phase, 'Failed');
      assert.notEqual(failed.exitCode, 0);
      if (mechanism.kind === 'rlimit') {
        // An allocation past RLIMIT_AS fails: the shell dies of it (SIGSEGV here), and the status says what limited it.
        assert.match(failed.message ?? '', /RLIMIT_AS/);
      } else {
        assert.equal(failed.reason, 'OOMKilled');
        assert.equal(failed.exitCode, 137);
      }
      const logs: string[] = [];
      for await (const chunk of runtime.logs(hungry.id)) logs.push(chunk);
      assert.doesNotMatch(logs.join(''), /survived/);
      const finished = await statusOf(
        runtime,
        modest.id,
        (s) => s.phase !== 'Running' && s.phase !== 'Pending',
      );
      assert.equal(finished.phase, 'Succeeded', JSON.stringify(finished));
    });

    if (mechanism.kind === 'cgroup1') {
      it('puts a container in its own memory cgroup and removes it with the unit', async () => {
        const unit = pod('grouped', 'sleep 30');
        await runtime.apply(unit);
        await statusOf(runtime, unit.id, (s) => s.phase === 'Running');
        const group = join(
          dirname(mechanism.memory),
          `outpost-${hash('sha256', dir, 'hex').slice(0, 8)}`,
          `${unit.id}.0.main`,
        );
        assert.equal(readFileSync(join(group, 'memory.limit_in_bytes'), 'utf8').trim(), String(64 * 2 ** 20));
        // The sandbox and the shell in it (Running is reported once the first is started; the
        // second may come a moment later on a loaded machine).
        await waitFor(
          'the sandbox and its shell in the cgroup',
          () => readFileSync(join(group, 'cgroup.procs'), 'utf8').trim().split('\n').length >= 2,
        );
        await runtime.remove(unit.id);
        assert.equal(existsSync(group), false);
      });
    }
  });
}
