import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ALL_KINDS, type KindDefinition, KindRegistry, type KubeObject } from '../../api/index.ts';
import { checkPod, createPodSecurityAdmission, declaredPods, type PodSecurityLevel } from './index.ts';

const registry = new KindRegistry(ALL_KINDS);
const workloadDef = registry.byKind('outpost.dev/v1alpha1', 'Workload') as KindDefinition;
const namespaceDef = registry.byKind('v1', 'Namespace') as KindDefinition;
const admission = createPodSecurityAdmission();

const PATHS = { metadata: 'metadata', spec: 'spec' };

/** Test fixtures set whatever field a rule reads, at any depth. */
// biome-ignore lint/suspicious/noExplicitAny: a loose JSON shape keeps the fixtures short
type Loose = Record<string, any>;

/** A pod spec with one container `app`, changed by `edit`. */
function podSpec(edit: (spec: Loose) => void = () => {}): Loose {
  const spec: Loose = { containers: [{ name: 'app', image: 'nginx:1.27' }] };
  edit(spec);
  return spec;
}

function fieldsOf(spec: Record<string, unknown>, level: PodSecurityLevel, metadata?: unknown): string[] {
  return checkPod({ metadata, spec }, level, PATHS).map((cause) => cause.field);
}

function workload(resources: unknown[], name = 'w'): KubeObject {
  return {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Workload',
    metadata: { name, namespace: 'team' },
    spec: { resources },
  };
}

function namespace(labels?: Record<string, string>): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: labels ? { name: 'team', labels } : { name: 'team' },
  };
}

function deployment(spec: Record<string, unknown>): Record<string, unknown> {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web' },
    spec: { template: { metadata: { labels: { app: 'web' } }, spec } },
  };
}

describe('Pod Security Standards: baseline', () => {
  const violations: Array<[string, Loose, string, unknown?]> = [
    [
      'a privileged container',
      podSpec((s) => (s.containers[0].securityContext = { privileged: true })),
      'spec.containers[0].securityContext.privileged',
    ],
    ['host networking', podSpec((s) => (s.hostNetwork = true)), 'spec.hostNetwork'],
    ['the host PID namespace', podSpec((s) => (s.hostPID = true)), 'spec.hostPID'],
    ['the host IPC namespace', podSpec((s) => (s.hostIPC = true)), 'spec.hostIPC'],
    [
      'a hostPath volume',
      podSpec(
        (s) =>
          (s.volumes = [
            { name: 'v', emptyDir: {} },
            { name: 'root', hostPath: { path: '/' } },
          ]),
      ),
      'spec.volumes[1].hostPath',
    ],
    [
      'SYS_ADMIN added',
      podSpec((s) => (s.containers[0].securityContext = { capabilities: { add: ['CHOWN', 'SYS_ADMIN'] } })),
      'spec.containers[0].securityContext.capabilities.add[1]',
    ],
    [
      'a hostPort',
      podSpec((s) => (s.containers[0].ports = [{ containerPort: 80, hostPort: 8080 }])),
      'spec.containers[0].ports[0].hostPort',
    ],
    [
      'an unconfined seccomp profile',
      podSpec((s) => (s.securityContext = { seccompProfile: { type: 'Unconfined' } })),
      'spec.securityContext.seccompProfile.type',
    ],
    [
      'an unconfined container AppArmor profile',
      podSpec((s) => (s.containers[0].securityContext = { appArmorProfile: { type: 'Unconfined' } })),
      'spec.containers[0].securityContext.appArmorProfile.type',
    ],
    [
      'a custom SELinux type',
      podSpec((s) => (s.securityContext = { seLinuxOptions: { type: 'spc_t' } })),
      'spec.securityContext.seLinuxOptions.type',
    ],
    [
      'a custom SELinux user',
      podSpec((s) => (s.containers[0].securityContext = { seLinuxOptions: { user: 'root' } })),
      'spec.containers[0].securityContext.seLinuxOptions.user',
    ],
    [
      'an unmasked /proc',
      podSpec((s) => (s.containers[0].securityContext = { procMount: 'Unmasked' })),
      'spec.containers[0].securityContext.procMount',
    ],
    [
      'an unsafe sysctl',
      podSpec(
        (s) =>
          (s.securityContext = {
            sysctls: [
              { name: 'net.ipv4.tcp_syncookies', value: '1' },
              { name: 'kernel.msgmax', value: '1' },
            ],
          }),
      ),
      'spec.securityContext.sysctls[1].name',
    ],
    [
      'a Windows HostProcess container',
      podSpec((s) => (s.securityContext = { windowsOptions: { hostProcess: true } })),
      'spec.securityContext.windowsOptions.hostProcess',
    ],
    [
      'a privileged init container',
      podSpec(
        (s) =>
          (s.initContainers = [{ name: 'init', image: 'busybox', securityContext: { privileged: true } }]),
      ),
      'spec.initContainers[0].securityContext.privileged',
    ],
    [
      'a privileged ephemeral container',
      podSpec(
        (s) =>
          (s.ephemeralContainers = [
            { name: 'debug', image: 'busybox', securityContext: { privileged: true } },
          ]),
      ),
      'spec.ephemeralContainers[0].securityContext.privileged',
    ],
    [
      'privileged given as a string',
      podSpec((s) => (s.containers[0].securityContext = { privileged: 'true' })),
      'spec.containers[0].securityContext.privileged',
    ],
    [
      'an unconfined AppArmor annotation',
      podSpec(),
      'metadata.annotations[container.apparmor.security.beta.kubernetes.io/app]',
      { annotations: { 'container.apparmor.security.beta.kubernetes.io/app': 'unconfined' } },
    ],
  ];
  for (const [what, spec, field, metadata] of violations) {
    it(`refuses ${what}, naming ${field}`, () => {
      assert.deepEqual(fieldsOf(spec, 'baseline', metadata), [field]);
      assert.deepEqual(fieldsOf(spec, 'privileged', metadata), [], 'privileged allows everything');
    });
  }

  it('allows the default pod and the explicitly safe values', () => {
    assert.deepEqual(fieldsOf(podSpec(), 'baseline'), []);
    const safe = podSpec((s) => {
      s.hostNetwork = false;
      s.volumes = [{ name: 'cfg', configMap: { name: 'cfg' } }];
      s.securityContext = {
        seccompProfile: { type: 'RuntimeDefault' },
        sysctls: [{ name: 'net.ipv4.ping_group_range', value: '0 1' }],
      };
      s.containers[0].ports = [{ containerPort: 80, hostPort: 0 }];
      s.containers[0].securityContext = {
        privileged: false,
        capabilities: { add: ['NET_BIND_SERVICE', 'CHOWN'], drop: ['ALL'] },
        procMount: 'Default',
        seLinuxOptions: { type: 'container_t', level: 's0:c1,c2' },
      };
    });
    assert.deepEqual(fieldsOf(safe, 'baseline'), []);
  });

  it('names every violation of a pod, each with its own field and rule', () => {
    const spec = podSpec((s) => {
      s.hostPID = true;
      s.containers[0].securityContext = { privileged: true };
    });
    const causes = checkPod({ spec }, 'baseline', PATHS);
    assert.deepEqual(
      causes.map((cause) => [cause.reason, cause.field]),
      [
        ['FieldValueForbidden', 'spec.hostPID'],
        ['FieldValueForbidden', 'spec.containers[0].securityContext.privileged'],
      ],
    );
    assert.match(
      causes[1]!.message,
      /^Forbidden: violates PodSecurity "baseline:latest": privileged containers are not allowed$/,
    );
  });
});

describe('Pod Security Standards: restricted', () => {
  it('refuses the default pod for what it does not set', () => {
    assert.deepEqual(fieldsOf(podSpec(), 'restricted'), [
      'spec.containers[0].securityContext.allowPrivilegeEscalation',
      'spec.containers[0].securityContext.runAsNonRoot',
      'spec.containers[0].securityContext.seccompProfile.type',
      'spec.containers[0].securityContext.capabilities.drop',
    ]);
  });

  it('allows a hardened pod', () => {
    const hardened = podSpec((s) => {
      s.securityContext = { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } };
      s.volumes = [{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }];
      s.containers[0].securityContext = {
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] },
      };
    });
    assert.deepEqual(fieldsOf(hardened, 'restricted'), []);
    hardened.volumes.push({ name: 'nfs', nfs: { server: 'x', path: '/' } });
    hardened.containers[0].securityContext.runAsUser = 0;
    assert.deepEqual(fieldsOf(hardened, 'restricted'), [
      'spec.volumes[1].nfs',
      'spec.containers[0].securityContext.runAsUser',
    ]);
  });
});

describe('the pods of a Workload', () => {
  it('are its Pods and the templates of its Deployments and StatefulSets, not its ConfigMaps or Secrets', () => {
    const pods = declaredPods([
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } },
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: podSpec() },
      deployment(podSpec()),
      {
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: { name: 's' },
        spec: { template: { spec: podSpec() } },
      },
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' } },
    ]);
    assert.deepEqual(
      pods.map((pod) => pod.paths.spec),
      [
        'spec.resources[1].spec',
        'spec.resources[2].spec.template.spec',
        'spec.resources[3].spec.template.spec',
      ],
    );
  });
});

describe('Pod Security admission', () => {
  const privileged = workload([
    deployment(podSpec((s) => (s.containers[0].securityContext = { privileged: true }))),
  ]);
  const admit = (object: KubeObject, ns: KubeObject | undefined, old?: KubeObject) =>
    admission.admit({ def: workloadDef, object, old, namespace: ns });

  it('enforces baseline in an unlabelled namespace, naming the field in the Workload', () => {
    assert.deepEqual(
      admit(privileged, namespace()).causes.map((cause) => cause.field),
      ['spec.resources[0].spec.template.spec.containers[0].securityContext.privileged'],
    );
  });

  it('enforces the level the namespace label names, and restricted for a label it does not know', () => {
    assert.deepEqual(
      admit(privileged, namespace({ 'pod-security.kubernetes.io/enforce': 'privileged' })).causes,
      [],
    );
    const plain = workload([deployment(podSpec())]);
    assert.deepEqual(
      admit(plain, namespace({ 'pod-security.kubernetes.io/enforce': 'baseline' })).causes,
      [],
    );
    assert.equal(
      admit(plain, namespace({ 'pod-security.kubernetes.io/enforce': 'restricted' })).causes.length,
      4,
    );
    assert.equal(admit(plain, namespace({ 'pod-security.kubernetes.io/enforce': 'bogus' })).causes.length, 4);
  });

  it('warns for the warn label without refusing', () => {
    const result = admit(
      workload([deployment(podSpec())]),
      namespace({ 'pod-security.kubernetes.io/warn': 'restricted' }),
    );
    assert.deepEqual(result.causes, []);
    assert.equal(result.warnings?.length, 4);
    assert.match(
      result.warnings![0]!,
      /^would violate PodSecurity "restricted:latest": allowPrivilegeEscalation must be false \(spec\.resources\[0\]/,
    );
  });

  it('does not re-check an update that leaves the resources as they were', () => {
    const relabelled = structuredClone(privileged);
    relabelled.metadata.labels = { edited: 'yes' };
    assert.deepEqual(admit(relabelled, namespace(), privileged).causes, []);
    const changed = structuredClone(privileged);
    (changed.spec as Loose).resources[0].spec.template.spec.hostIPC = true;
    assert.equal(admit(changed, namespace(), privileged).causes.length, 2);
  });

  it('refuses a namespace level label it does not know', () => {
    const result = admission.admit({
      def: namespaceDef,
      object: namespace({ 'pod-security.kubernetes.io/enforce': 'bogus' }),
      old: undefined,
      namespace: undefined,
    });
    assert.deepEqual(
      result.causes.map((cause) => cause.field),
      ['metadata.labels[pod-security.kubernetes.io/enforce]'],
    );
  });
});
