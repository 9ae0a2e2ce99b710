import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ContainerShape } from '../pod-spec.ts';
import type { ProbeTarget } from './checks.ts';
import { ContainerProbes } from './prober.ts';
import { probesOf } from './spec.ts';

/** A container whose exec probes answer from `answers[command]`, one exit code per try (the last repeats). */
function target(answers: Record<string, number[]>, calls: string[]): ProbeTarget {
  return {
    exec: async (command) => {
      const name = command[0]!;
      calls.push(name);
      const queue = answers[name]!;
      return { code: queue.length > 1 ? queue.shift()! : queue[0]!, output: `${name} said no` };
    },
    address: async () => '127.0.0.1',
  };
}

const probe = (name: string, extra: Record<string, unknown> = {}) => ({
  exec: { command: [name] },
  periodSeconds: 1,
  ...extra,
});

const until = async (what: string, check: () => boolean, ms = 10_000) => {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

describe('container probes', () => {
  it('reads probes with Kubernetes defaults and resolves named ports', () => {
    const container: ContainerShape = {
      name: 'c',
      ports: [{ name: 'web', containerPort: 8080 }],
      readinessProbe: { httpGet: { port: 'web' } },
      livenessProbe: { tcpSocket: { port: 9090 }, successThreshold: 5 },
    };
    const [readiness, liveness] = probesOf(container);
    assert.deepEqual(readiness, {
      kind: 'readiness',
      action: { kind: 'httpGet', port: 8080, path: '/', https: false, headers: {} },
      initialDelayMs: 0,
      periodMs: 10_000,
      timeoutMs: 1000,
      successThreshold: 1,
      failureThreshold: 3,
    });
    assert.equal(liveness?.successThreshold, 1, 'liveness success threshold is always 1');
  });

  it('is ready after successThreshold passes and not ready after failureThreshold failures, naming the probe', async () => {
    const calls: string[] = [];
    const container: ContainerShape = {
      name: 'c',
      readinessProbe: probe('ready', { successThreshold: 2, failureThreshold: 2 }),
    };
    let changes = 0;
    const probes = new ContainerProbes(probesOf(container), target({ ready: [0, 0, 1, 1] }, calls), {
      onChange: () => changes++,
      onFailure: () => assert.fail('readiness never restarts'),
    });
    probes.start();
    assert.equal(probes.ready, false, 'not ready before the probe passed');
    await until('the first try', () => calls.length >= 1);
    assert.equal(probes.ready, false, 'one success of two');
    await until('ready', () => probes.ready);
    await until('the first failure', () => calls.length >= 3);
    assert.equal(probes.ready, true, 'one failure of two');
    await until('not ready', () => !probes.ready);
    assert.match(
      probes.message ?? '',
      /^Readiness probe failed: command \["ready"\] exited with code 1: ready said no/,
    );
    assert.ok(changes >= 2);
    probes.stop();
  });

  it('runs liveness only after the startup probe passed, and reports a failed liveness probe', async () => {
    const calls: string[] = [];
    const container: ContainerShape = {
      name: 'c',
      startupProbe: probe('started', { failureThreshold: 5 }),
      livenessProbe: probe('alive', { failureThreshold: 1 }),
    };
    const failures: string[] = [];
    const probes = new ContainerProbes(probesOf(container), target({ started: [1, 0], alive: [1] }, calls), {
      onChange: () => {},
      onFailure: (kind, message) => failures.push(`${kind}: ${message}`),
    });
    probes.start();
    await until('a liveness failure', () => failures.length > 0);
    assert.deepEqual(calls.slice(0, 3), ['started', 'started', 'alive']);
    assert.match(failures[0]!, /^liveness: Liveness probe failed: command \["alive"\]/);
    assert.match(probes.message ?? '', /^restarted after: Liveness probe failed/);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(calls.length, 3, 'no more tries until the container runs again');
  });

  it('reports a startup probe that never passes as a failure', async () => {
    const calls: string[] = [];
    const container: ContainerShape = { name: 'c', startupProbe: probe('started', { failureThreshold: 2 }) };
    const failures: string[] = [];
    const probes = new ContainerProbes(probesOf(container), target({ started: [1] }, calls), {
      onChange: () => {},
      onFailure: (kind) => failures.push(kind),
    });
    probes.start();
    await until('the startup failure', () => failures.length > 0);
    assert.deepEqual(failures, ['startup']);
    assert.equal(calls.length, 2);
    assert.equal(probes.ready, false);
  });
});
