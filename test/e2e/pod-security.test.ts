/**
 * Pod Security admission end to end: kubectl against a hub process. A
 * Workload whose pods could take over a device is refused with 422 naming the
 * field, on every write path, unless its namespace is labelled privileged.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  type KubectlHub,
  type Manifest,
  namespace,
  startKubectlHub,
  workload,
  yamlOf,
} from '../support/index.ts';

const NS = 'psa-team';
const OPEN_NS = 'psa-open';
const POD = 'spec.resources[0].spec.template.spec';

/** The fixture Workload with its pod spec changed by `edit`. */
function workloadWith(
  name: string,
  edit: (pod: Record<string, unknown>, container: Record<string, unknown>) => void,
  ns = NS,
): Manifest {
  const manifest = workload(ns, name);
  const pod = (
    manifest.spec as { resources: Array<{ spec: { template: { spec: Record<string, unknown> } } }> }
  ).resources[0]!.spec.template.spec;
  edit(pod, (pod.containers as Array<Record<string, unknown>>)[0]!);
  return manifest;
}

const privileged = (name: string, ns = NS) =>
  workloadWith(name, (_pod, container) => (container.securityContext = { privileged: true }), ns);

/** Each baseline control, broken once, and the field the refusal must name. */
const VIOLATIONS: Array<[string, Manifest]> = [
  [`${POD}.containers[0].securityContext.privileged`, privileged('v-privileged')],
  [`${POD}.hostNetwork`, workloadWith('v-hostnetwork', (pod) => (pod.hostNetwork = true))],
  [`${POD}.hostPID`, workloadWith('v-hostpid', (pod) => (pod.hostPID = true))],
  [`${POD}.hostIPC`, workloadWith('v-hostipc', (pod) => (pod.hostIPC = true))],
  [
    `${POD}.volumes[0].hostPath`,
    workloadWith('v-hostpath', (pod) => (pod.volumes = [{ name: 'root', hostPath: { path: '/' } }])),
  ],
  [
    `${POD}.containers[0].securityContext.capabilities.add[0]`,
    workloadWith('v-caps', (_p, c) => (c.securityContext = { capabilities: { add: ['SYS_ADMIN'] } })),
  ],
  [
    `${POD}.containers[0].ports[0].hostPort`,
    workloadWith('v-hostport', (_p, c) => (c.ports = [{ containerPort: 80, hostPort: 80 }])),
  ],
  [
    `${POD}.securityContext.seccompProfile.type`,
    workloadWith('v-seccomp', (pod) => (pod.securityContext = { seccompProfile: { type: 'Unconfined' } })),
  ],
  [
    `${POD}.containers[0].securityContext.appArmorProfile.type`,
    workloadWith('v-apparmor', (_p, c) => (c.securityContext = { appArmorProfile: { type: 'Unconfined' } })),
  ],
  [
    `${POD}.securityContext.seLinuxOptions.type`,
    workloadWith('v-selinux', (pod) => (pod.securityContext = { seLinuxOptions: { type: 'spc_t' } })),
  ],
  [
    `${POD}.containers[0].securityContext.procMount`,
    workloadWith('v-procmount', (_p, c) => (c.securityContext = { procMount: 'Unmasked' })),
  ],
  [
    `${POD}.securityContext.sysctls[0].name`,
    workloadWith(
      'v-sysctl',
      (pod) => (pod.securityContext = { sysctls: [{ name: 'kernel.panic', value: '1' }] }),
    ),
  ],
  [
    `${POD}.securityContext.windowsOptions.hostProcess`,
    workloadWith('v-hostprocess', (pod) => (pod.securityContext = { windowsOptions: { hostProcess: true } })),
  ],
  [
    `${POD}.initContainers[0].securityContext.privileged`,
    workloadWith(
      'v-init',
      (pod) =>
        (pod.initContainers = [{ name: 'init', image: 'busybox', securityContext: { privileged: true } }]),
    ),
  ],
  [
    `${POD}.ephemeralContainers[0].securityContext.privileged`,
    workloadWith(
      'v-ephemeral',
      (pod) =>
        (pod.ephemeralContainers = [
          { name: 'dbg', image: 'busybox', securityContext: { privileged: true } },
        ]),
    ),
  ],
];

describe('Pod Security admission refuses Workloads that could take over a device', () => {
  let k: KubectlHub;

  before(async () => {
    k = await startKubectlHub();
    await k.ok(['apply', '-f', '-'], yamlOf(namespace(NS), namespace(OPEN_NS)));
  });

  after(async () => {
    await k?.stop();
  });

  const exists = async (name: string, ns = NS) =>
    (await k.run(['get', 'workload', name, '-n', ns, '-o', 'name'])).code === 0;

  it('refuses a privileged workload with 422 naming the field, and creates nothing', async () => {
    const stderr = await k.fails(['apply', '-f', '-'], yamlOf(privileged('priv')));
    assert.match(stderr, /The Workload "priv" is invalid/);
    assert.ok(
      stderr.includes(
        `${POD}.containers[0].securityContext.privileged: Forbidden: violates PodSecurity "baseline:latest": privileged containers are not allowed`,
      ),
      stderr,
    );
    assert.equal(await exists('priv'), false);
    const response = await k.api.request('POST', `/apis/outpost.dev/v1alpha1/namespaces/${NS}/workloads`, {
      body: privileged('priv'),
    });
    assert.equal(response.status, 422);
    assert.deepEqual(
      response
        .json()
        .details.causes.map((cause: { reason: string; field: string }) => [cause.reason, cause.field]),
      [['FieldValueForbidden', `${POD}.containers[0].securityContext.privileged`]],
    );
  });

  it('refuses each baseline violation, naming its field', async () => {
    const result = await k.run(['create', '-f', '-'], yamlOf(...VIOLATIONS.map(([, manifest]) => manifest)));
    assert.notEqual(result.code, 0);
    for (const [field, manifest] of VIOLATIONS) {
      assert.ok(
        result.stderr.includes(
          `Workload.outpost.dev "${manifest.metadata.name}" is invalid: ${field}: Forbidden`,
        ),
        `${manifest.metadata.name} refused for ${field}:\n${result.stderr}`,
      );
    }
    const listed = await k.ok(['get', 'workloads', '-n', NS, '-o', 'name']);
    assert.equal(listed.trim(), '', 'none of them was created');
  });

  it('refuses privilege added by patch, server-side apply, replace and server dry run', async () => {
    await k.ok(['apply', '-f', '-'], yamlOf(workload(NS, 'web')));
    const field = `${POD}.containers[0].securityContext.privileged`;
    const patch = JSON.stringify([
      {
        op: 'add',
        path: '/spec/resources/0/spec/template/spec/containers/0/securityContext',
        value: { privileged: true },
      },
    ]);
    const refusals = [
      await k.fails(['patch', 'workload', 'web', '-n', NS, '--type=json', '-p', patch]),
      await k.fails(['apply', '--server-side', '-f', '-'], yamlOf(privileged('web'))),
      await k.fails(['apply', '-f', '-'], yamlOf(privileged('web'))),
      await k.fails(['apply', '--dry-run=server', '-f', '-'], yamlOf(privileged('dry'))),
    ];
    for (const stderr of refusals) assert.ok(stderr.includes(`${field}: Forbidden`), stderr);
    const live = JSON.parse(await k.ok(['get', 'workload', 'web', '-n', NS, '-o', 'json']));
    assert.equal(live.spec.resources[0].spec.template.spec.containers[0].securityContext, undefined);
  });

  it('allows a privileged workload once the namespace is labelled privileged', async () => {
    await k.fails(['apply', '-f', '-'], yamlOf(privileged('agent', OPEN_NS)));
    await k.ok(['label', 'namespace', OPEN_NS, 'pod-security.kubernetes.io/enforce=privileged']);
    await k.ok(['apply', '-f', '-'], yamlOf(privileged('agent', OPEN_NS)));
    assert.equal(await exists('agent', OPEN_NS), true);
  });

  it('keeps existing workloads when the namespace level is raised, refusing only changes to their pods', async () => {
    await k.ok(['label', 'namespace', OPEN_NS, 'pod-security.kubernetes.io/enforce=baseline', '--overwrite']);
    assert.equal(await exists('agent', OPEN_NS), true);
    await k.ok(['label', 'workload', 'agent', '-n', OPEN_NS, 'team=edge']);
    const stderr = await k.fails(
      ['apply', '-f', '-'],
      yamlOf(
        workloadWith(
          'agent',
          (pod, container) => {
            container.securityContext = { privileged: true };
            pod.hostNetwork = true;
          },
          OPEN_NS,
        ),
      ),
    );
    assert.ok(stderr.includes(`${POD}.hostNetwork: Forbidden`), stderr);
  });

  it('refuses a namespace level it does not know', async () => {
    const stderr = await k.fails(['label', 'namespace', NS, 'pod-security.kubernetes.io/enforce=everything']);
    assert.match(stderr, /metadata\.labels\[pod-security\.kubernetes\.io\/enforce\]: Unsupported value/);
  });
});
