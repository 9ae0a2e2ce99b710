import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MailboxObject } from '../../../api/index.ts';
import { desiredStateOf } from '../../reconcile/index.ts';
import type { ActualUnit, DesiredUnit, Runtime } from '../runtime.ts';
import { createProcessRuntime } from './process-runtime.ts';

const source = { namespace: 'team-a', workload: 'web', placement: 'all' };

function entry(object: Record<string, unknown>, hash: string): MailboxObject {
  return { source, hash, object: object as MailboxObject['object'] };
}

function configMap(data: Record<string, string>, hash: string): MailboxObject {
  return entry(
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'team-a' }, data },
    hash,
  );
}

const secret = entry(
  {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'creds', namespace: 'team-a' },
    data: { password: Buffer.from('s3cret').toString('base64') },
  },
  'sha256:secret',
);

/** A Deployment whose containers write their env and mounted files into their working folder, then sleep. */
function deployment(replicas: number, hash: string, command = 'sleep 300'): MailboxObject {
  return entry(
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'api', namespace: 'team-a' },
      spec: {
        replicas,
        template: {
          spec: {
            terminationGracePeriodSeconds: 2,
            containers: [
              {
                name: 'main',
                image: 'ignored',
                command: ['sh', '-c'],
                args: [
                  `echo "greeting=$GREETING password=$PASSWORD mode=$(MODE)"; cat /etc/outpost-test-cfg/greeting; echo; ${command}`,
                ],
                env: [
                  { name: 'MODE', value: 'fast' },
                  { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'creds', key: 'password' } } },
                ],
                envFrom: [{ configMapRef: { name: 'cfg' } }],
                volumeMounts: [{ name: 'config', mountPath: '/etc/outpost-test-cfg' }],
              },
            ],
            volumes: [
              { name: 'config', configMap: { name: 'cfg', items: [{ key: 'GREETING', path: 'greeting' }] } },
            ],
          },
        },
      },
    },
    hash,
  );
}

function unitOf(...objects: MailboxObject[]): DesiredUnit {
  const unit = desiredStateOf(objects).units[0];
  assert.ok(unit);
  return unit;
}

async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  ms = 15_000,
): Promise<T> {
  const deadline = performance.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function pidsOf(dir: string, id: string, replicas: number): number[] {
  const pids: number[] = [];
  for (let replica = 0; replica < replicas; replica++) {
    const state = JSON.parse(
      readFileSync(join(dir, 'units', id, 'replicas', String(replica), 'main', 'state.json'), 'utf8'),
    );
    pids.push(state.pid);
  }
  return pids;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
}

async function running(runtime: Runtime, id: string, hash?: string): Promise<ActualUnit | undefined> {
  const unit = (await runtime.list()).find((u) => u.id === id);
  return unit && unit.status.phase === 'Running' && unit.status.ready && (!hash || unit.hash === hash)
    ? unit
    : undefined;
}

describe('process runtime', () => {
  let dir: string;
  let runtime: Runtime;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'outpost-process-'));
    runtime = createProcessRuntime({ dir, restart: { initialMs: 200 } });
    await runtime.start();
  });

  after(async () => {
    await runtime.close({ stopUnits: true });
    await rm(dir, { recursive: true, force: true });
  });

  it('runs each replica with its env, secret and configMap volume at its mountPath', async () => {
    const unit = unitOf(deployment(2, 'sha256:d1'), configMap({ GREETING: 'hello' }, 'sha256:c1'), secret);
    await runtime.apply(unit);
    await waitFor('two running replicas', () => running(runtime, unit.id));
    // Both replicas' whole output (the logs below read one of them): the greeting line, then hello.
    const outputs = await waitFor('output', async () => {
      const texts = await Promise.all(
        ['0', '1'].map((replica) =>
          readFile(join(dir, 'units', unit.id, 'replicas', replica, 'main', 'output.log'), 'utf8').catch(
            () => '',
          ),
        ),
      );
      return texts.every((text) => text.endsWith('\nhello\n')) ? texts : undefined;
    });
    const output = outputs[1]!;
    assert.match(output, /greeting=hello password=s3cret mode=fast/);
    const secretFile = await stat(join(dir, 'units', unit.id, 'volumes', 'config', 'greeting'));
    assert.equal(secretFile.mode & 0o777, 0o644);
    const pids = pidsOf(dir, unit.id, 2);
    assert.ok(pids.every(alive));
    const logs: string[] = [];
    for await (const chunk of runtime.logs(unit.id, { tail: 1 })) logs.push(chunk);
    assert.equal(logs.join(''), 'hello\n');
  });

  it('restarts a killed process with its restart counted', async () => {
    const unit = unitOf(deployment(2, 'sha256:d1'), configMap({ GREETING: 'hello' }, 'sha256:c1'), secret);
    const [first] = pidsOf(dir, unit.id, 2);
    process.kill(-first!, 'SIGKILL');
    const restarted = await waitFor('a restart', async () => {
      const actual = await running(runtime, unit.id);
      return actual && (actual.status.restarts ?? 0) >= 1 ? actual : undefined;
    });
    assert.equal(restarted.status.restarts, 1);
    assert.notEqual(pidsOf(dir, unit.id, 2)[0], first);
  });

  it('replaces a unit when a ConfigMap it uses changes, and leaves it alone when nothing does', async () => {
    const before = unitOf(deployment(2, 'sha256:d1'), configMap({ GREETING: 'hello' }, 'sha256:c1'), secret);
    const oldPids = pidsOf(dir, before.id, 2);
    await runtime.apply(before);
    assert.deepEqual(pidsOf(dir, before.id, 2), oldPids);
    const changed = unitOf(
      deployment(1, 'sha256:d1'),
      configMap({ GREETING: 'bonjour' }, 'sha256:c2'),
      secret,
    );
    assert.equal(changed.id, before.id);
    assert.notEqual(changed.hash, before.hash);
    await runtime.apply(changed);
    await waitFor('the new content', () => running(runtime, changed.id, changed.hash));
    await waitFor('old processes gone', () => oldPids.every((pid) => !alive(pid)));
    await waitFor('new greeting', async () =>
      (
        await readFile(join(dir, 'units', changed.id, 'replicas', '0', 'main', 'output.log'), 'utf8')
      ).includes('bonjour'),
    );
  });

  it('adopts running processes after a restart of the agent instead of starting them again', async () => {
    const unit = unitOf(deployment(1, 'sha256:d1'), configMap({ GREETING: 'bonjour' }, 'sha256:c2'), secret);
    process.kill(-pidsOf(dir, unit.id, 1)[0]!, 'SIGKILL');
    await waitFor('a restart', async () => (await running(runtime, unit.id))?.status.restarts === 1);
    const [pid] = pidsOf(dir, unit.id, 1);
    await runtime.close();
    assert.ok(alive(pid!), 'closing the runtime leaves the workload running');
    runtime = createProcessRuntime({ dir, restart: { initialMs: 200 } });
    await runtime.start();
    const adopted = await waitFor('adopted unit', () => running(runtime, unit.id, unit.hash));
    assert.equal(adopted.status.restarts, 1, 'restarts counted before are kept');
    await runtime.apply(unit);
    assert.deepEqual(pidsOf(dir, unit.id, 1), [pid]);
    // An adopted process that dies is noticed by polling and restarted.
    process.kill(-pid!, 'SIGKILL');
    await waitFor('restart of the adopted process', async () => {
      const actual = await running(runtime, unit.id);
      return actual && actual.status.restarts === 2 ? actual : undefined;
    });
  });

  it('removes a unit: processes stopped, files and created mount points gone', async () => {
    const unit = unitOf(deployment(1, 'sha256:d1'), configMap({ GREETING: 'bonjour' }, 'sha256:c2'), secret);
    const pids = pidsOf(dir, unit.id, 1);
    await runtime.remove(unit.id);
    assert.ok(pids.every((pid) => !alive(pid)));
    assert.deepEqual(await runtime.list(), []);
    await assert.rejects(stat(join(dir, 'units', unit.id)), { code: 'ENOENT' });
    await assert.rejects(stat('/etc/outpost-test-cfg'), { code: 'ENOENT' });
  });

  it('reports a Pod that exits per its restartPolicy, and a missing ConfigMap as a config error', async () => {
    const pod = (name: string, restartPolicy: string, command: string) =>
      entry(
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name, namespace: 'team-a' },
          spec: { restartPolicy, containers: [{ name: 'c', command: ['sh', '-c', command] }] },
        },
        `sha256:${name}`,
      );
    const done = unitOf(pod('done', 'Never', 'exit 0'));
    const failed = unitOf(pod('failed', 'OnFailure', 'exit 3'));
    const never = unitOf(pod('never', 'Never', 'exit 4'));
    const broken = unitOf(
      entry(
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'broken', namespace: 'team-a' },
          spec: {
            containers: [{ name: 'c', command: ['true'], envFrom: [{ configMapRef: { name: 'absent' } }] }],
          },
        },
        'sha256:broken',
      ),
    );
    for (const unit of [done, failed, never, broken]) await runtime.apply(unit);
    const statusOf = async (id: string) => (await runtime.list()).find((u) => u.id === id)?.status;
    await waitFor('Succeeded', async () => (await statusOf(done.id))?.phase === 'Succeeded');
    await waitFor('Failed', async () => (await statusOf(never.id))?.phase === 'Failed');
    assert.equal((await statusOf(never.id))?.exitCode, 4);
    await waitFor('CrashLoopBackOff', async () => (await statusOf(failed.id))?.reason === 'CrashLoopBackOff');
    assert.deepEqual(await statusOf(broken.id), {
      phase: 'Pending',
      ready: false,
      restarts: 0,
      reason: 'CreateContainerConfigError',
      message: 'configmap "absent" not found',
    });
    for (const unit of [done, failed, never, broken]) await runtime.remove(unit.id);
  });

  it('runs init containers one after the other before the containers, and fails the pod when one fails for good', async () => {
    const pod = (name: string, restartPolicy: string, initScript: string) =>
      unitOf(
        entry(
          {
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: { name, namespace: 'team-a' },
            spec: {
              restartPolicy,
              initContainers: [
                {
                  name: 'first',
                  command: ['sh', '-c', 'echo one > /data/order'],
                  volumeMounts: [{ name: 'data', mountPath: '/data' }],
                },
                {
                  name: 'second',
                  command: ['sh', '-c', initScript],
                  volumeMounts: [{ name: 'data', mountPath: '/data' }],
                },
              ],
              containers: [
                {
                  name: 'main',
                  command: ['sh', '-c', 'cat /data/order; exec sleep 300'],
                  volumeMounts: [{ name: 'data', mountPath: '/data' }],
                },
              ],
              volumes: [{ name: 'data', emptyDir: {} }],
            },
          },
          `sha256:${name}`,
        ),
      );
    const ok = pod('inits', 'Always', 'echo two >> /data/order');
    const bad = pod('bad-init', 'Never', 'exit 7');
    await runtime.apply(ok);
    await runtime.apply(bad);
    await waitFor('running after its inits', () => running(runtime, ok.id));
    await waitFor(
      'the output of the inits',
      async () =>
        (await readFile(join(dir, 'units', ok.id, 'replicas', '0', 'main', 'output.log'), 'utf8')) ===
        'one\ntwo\n',
    );
    const failed = await waitFor('the failed init', async () => {
      const status = (await runtime.list()).find((u) => u.id === bad.id)?.status;
      return status?.phase === 'Failed' ? status : undefined;
    });
    assert.equal(failed.reason, 'InitContainerFailed');
    assert.equal(failed.exitCode, 7);
    await runtime.remove(ok.id);
    await runtime.remove(bad.id);
  });

  it('follows the output of a container until aborted', async () => {
    const unit = unitOf(
      entry(
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'chatty', namespace: 'team-a' },
          spec: {
            containers: [
              {
                name: 'main',
                command: ['sh', '-c', 'i=0; while true; do i=$((i+1)); echo "line $i"; sleep 0.1; done'],
              },
            ],
          },
        },
        'sha256:chatty',
      ),
    );
    await runtime.apply(unit);
    const controller = new AbortController();
    const lines: string[] = [];
    for await (const chunk of runtime.logs(unit.id, { tail: 1, follow: true, signal: controller.signal })) {
      lines.push(...chunk.split('\n').filter(Boolean));
      if (lines.length >= 5) controller.abort();
    }
    const numbers = lines.map((line) => Number(line.replace('line ', '')));
    assert.deepEqual(
      numbers,
      numbers.map((_, i) => numbers[0]! + i),
      lines.join(','),
    );
    await assert.rejects(async () => {
      for await (const _ of runtime.logs(unit.id, { container: 'absent' })) break;
    }, /has no container absent/);
    await runtime.remove(unit.id);
  });

  it('runs each unit as its own unprivileged uid without capabilities, and as root only when the pod asks', async () => {
    const pod = (name: string, securityContext?: Record<string, unknown>) =>
      unitOf(
        entry(
          {
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: { name, namespace: 'team-a' },
            spec: {
              restartPolicy: 'Never',
              ...(securityContext ? { securityContext } : {}),
              containers: [
                { name: 'main', command: ['sh', '-c', 'id -u; grep CapEff /proc/self/status; ls /proc'] },
              ],
            },
          },
          `sha256:${name}`,
        ),
      );
    const units = [pod('one'), pod('two'), pod('root', { runAsUser: 0 })];
    const outputs: string[] = [];
    for (const unit of units) {
      await runtime.apply(unit);
      outputs.push(
        await waitFor(`${unit.id} done`, async () => {
          const text = await readFile(
            join(dir, 'units', unit.id, 'replicas', '0', 'main', 'output.log'),
            'utf8',
          ).catch(() => '');
          return text.includes('CapEff') ? text : undefined;
        }),
      );
    }
    const uids = outputs.map((text) => Number(text.split('\n')[0]));
    assert.ok(uids[0]! >= 0x7000_0000 && uids[1]! >= 0x7000_0000 && uids[0] !== uids[1], String(uids));
    assert.equal(uids[2], 0);
    for (const text of outputs) assert.match(text, /CapEff:\s+0+\n/, 'no capabilities, root included');
    // A pid namespace of its own: its /proc holds bwrap (pid 1) and the container's own processes.
    for (const text of outputs) {
      const proc = text.split('\n').slice(2); // after `id -u` and CapEff
      assert.ok(!proc.some((line) => Number(line) > 10), text);
    }
    for (const unit of units) await runtime.remove(unit.id);
  });

  it('without bubblewrap, points to volume folders in OUTPOST_VOLUME_<NAME> and in arguments naming a mount path, and says so in the status', async () => {
    const fallbackDir = await mkdtemp(join(tmpdir(), 'outpost-process-nobwrap-'));
    const plain = createProcessRuntime({ dir: fallbackDir, bwrap: false });
    await plain.start();
    try {
      const unit = unitOf(
        entry(
          {
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: { name: 'plain', namespace: 'team-a' },
            spec: {
              containers: [
                {
                  name: 'main',
                  command: ['sh', '-c', 'cat "$OUTPOST_VOLUME_CONFIG/GREETING" "$1"; echo; exec sleep 300'],
                  // As `--config /etc/app/config.yaml`: the argument is given the host path.
                  args: ['sh', '/etc/outpost-test-plain/GREETING'],
                  volumeMounts: [{ name: 'config', mountPath: '/etc/outpost-test-plain' }],
                },
              ],
              volumes: [{ name: 'config', configMap: { name: 'cfg' } }],
            },
          },
          'sha256:plain',
        ),
        configMap({ GREETING: 'hi' }, 'sha256:c3'),
      );
      await plain.apply(unit);
      const actual = await waitFor('running', () => running(plain, unit.id));
      assert.match(actual.status.message ?? '', /bubblewrap is not installed.*\$OUTPOST_VOLUME_CONFIG/);
      await waitFor(
        'the file read through the variable and through the argument',
        async () =>
          (await readFile(
            join(fallbackDir, 'units', unit.id, 'replicas', '0', 'main', 'output.log'),
            'utf8',
          )) === 'hihi\n',
      );
      await assert.rejects(stat('/etc/outpost-test-plain'), { code: 'ENOENT' });
    } finally {
      await plain.close({ stopUnits: true });
      await rm(fallbackDir, { recursive: true, force: true });
      await rm(`${fallbackDir}.workloads`, { recursive: true, force: true });
    }
  });
});
