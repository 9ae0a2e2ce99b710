/**
 * The Pod Security Standards (baseline and restricted), as Kubernetes' Pod
 * Security Admission checks them, over one pod: its metadata (annotations)
 * and its spec. Values are checked against allow-lists: anything not known
 * to be safe (also a value of the wrong type, which a lenient runtime might
 * still read as true) is a violation.
 */
import type { FieldCause } from '../../api/index.ts';

/** The three levels, from least to most restrictive. */
export const POD_SECURITY_LEVELS = ['privileged', 'baseline', 'restricted'] as const;
export type PodSecurityLevel = (typeof POD_SECURITY_LEVELS)[number];

/** Capabilities the baseline level lets a container add (the container runtimes' default set). */
export const BASELINE_CAPABILITIES: ReadonlySet<string> = new Set([
  'AUDIT_WRITE',
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'MKNOD',
  'NET_BIND_SERVICE',
  'SETFCAP',
  'SETGID',
  'SETPCAP',
  'SETUID',
  'SYS_CHROOT',
]);

/** Sysctls that only affect the pod's own namespaces ("safe" in Kubernetes' terms). */
const SAFE_SYSCTLS: ReadonlySet<string> = new Set([
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
]);

const SELINUX_TYPES: ReadonlySet<string> = new Set([
  '',
  'container_t',
  'container_init_t',
  'container_kvm_t',
  'container_engine_t',
]);

/** Volume sources the restricted level allows (besides `name`). */
const RESTRICTED_VOLUMES: ReadonlySet<string> = new Set([
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'persistentVolumeClaim',
  'projected',
  'secret',
]);

const CONTAINER_LISTS = ['initContainers', 'containers', 'ephemeralContainers'] as const;
const APPARMOR_ANNOTATION = 'container.apparmor.security.beta.kubernetes.io/';
const SECCOMP_ANNOTATIONS = [
  'seccomp.security.alpha.kubernetes.io/pod',
  'container.seccomp.security.alpha.kubernetes.io/',
];

/** Where a pod's parts sit in the object being admitted, as field paths. */
export interface PodPaths {
  /** The pod's metadata, e.g. `spec.resources[0].spec.template.metadata`. */
  readonly metadata: string;
  /** The pod's spec, e.g. `spec.resources[0].spec.template.spec`. */
  readonly spec: string;
}

type Json = Record<string, unknown>;

function record(value: unknown): Json | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** Unset: absent or null (JSON's "not set"). */
function unset(value: unknown): boolean {
  return value === undefined || value === null;
}

/** Collects the violations of one pod, each with its field path and a message naming the rule. */
class Checker {
  readonly causes: FieldCause[] = [];
  constructor(readonly level: PodSecurityLevel) {}

  forbid(field: string, rule: string): void {
    this.causes.push({
      reason: 'FieldValueForbidden',
      field,
      message: `Forbidden: violates PodSecurity "${this.level}:latest": ${rule}`,
    });
  }

  /** The field must be unset or one of `allowed`. */
  allow(value: unknown, field: string, allowed: readonly unknown[], rule: string): void {
    if (!unset(value) && !allowed.includes(value)) this.forbid(field, rule);
  }
}

/**
 * The violations of `level` in one pod, with field paths under `paths`;
 * empty when the pod is allowed (always for `privileged`).
 */
export function checkPod(
  pod: { readonly metadata?: unknown; readonly spec?: unknown },
  level: PodSecurityLevel,
  paths: PodPaths,
): FieldCause[] {
  if (level === 'privileged') return [];
  const checker = new Checker(level);
  const spec = record(pod.spec) ?? {};
  checkAnnotations(checker, record(record(pod.metadata)?.annotations) ?? {}, `${paths.metadata}.annotations`);
  checkPodLevel(checker, spec, paths.spec);
  for (const listName of CONTAINER_LISTS) {
    list(spec[listName]).forEach((container, index) => {
      checkContainer(checker, record(container) ?? {}, `${paths.spec}.${listName}[${index}]`);
    });
  }
  if (level === 'restricted') checkRestricted(checker, spec, paths.spec);
  return checker.causes;
}

function checkAnnotations(checker: Checker, annotations: Json, path: string): void {
  for (const [key, value] of Object.entries(annotations)) {
    const field = `${path}[${key}]`;
    if (key.startsWith(APPARMOR_ANNOTATION)) {
      const ok = value === 'runtime/default' || (typeof value === 'string' && value.startsWith('localhost/'));
      if (!ok) checker.forbid(field, 'AppArmor profile must be runtime/default or localhost/*');
    }
    if (SECCOMP_ANNOTATIONS.some((name) => key === name || (name.endsWith('/') && key.startsWith(name)))) {
      if (value === 'unconfined') checker.forbid(field, 'seccomp profile must not be unconfined');
    }
  }
}

function checkPodLevel(checker: Checker, spec: Json, path: string): void {
  for (const hostNamespace of ['hostNetwork', 'hostPID', 'hostIPC']) {
    checker.allow(
      spec[hostNamespace],
      `${path}.${hostNamespace}`,
      [false],
      'host namespaces are not allowed',
    );
  }
  list(spec.volumes).forEach((volume, index) => {
    if (!unset(record(volume)?.hostPath)) {
      checker.forbid(`${path}.volumes[${index}].hostPath`, 'hostPath volumes are not allowed');
    }
  });
  const context = record(spec.securityContext);
  if (!context) return;
  const contextPath = `${path}.securityContext`;
  checkSecurityOptions(checker, context, contextPath);
  list(context.sysctls).forEach((sysctl, index) => {
    const name = record(sysctl)?.name;
    if (typeof name !== 'string' || !SAFE_SYSCTLS.has(name)) {
      checker.forbid(`${contextPath}.sysctls[${index}].name`, 'only namespaced ("safe") sysctls are allowed');
    }
  });
}

/** The checks a pod's and a container's securityContext share. */
function checkSecurityOptions(checker: Checker, context: Json, path: string): void {
  checker.allow(
    record(context.windowsOptions)?.hostProcess,
    `${path}.windowsOptions.hostProcess`,
    [false],
    'HostProcess containers are not allowed',
  );
  checker.allow(
    record(context.appArmorProfile)?.type,
    `${path}.appArmorProfile.type`,
    ['RuntimeDefault', 'Localhost'],
    'AppArmor profile must be RuntimeDefault or Localhost',
  );
  checker.allow(
    record(context.seccompProfile)?.type,
    `${path}.seccompProfile.type`,
    ['RuntimeDefault', 'Localhost'],
    'seccomp profile must be RuntimeDefault or Localhost',
  );
  const selinux = record(context.seLinuxOptions);
  if (selinux) {
    checker.allow(
      selinux.type,
      `${path}.seLinuxOptions.type`,
      [...SELINUX_TYPES],
      'SELinux type is not allowed',
    );
    checker.allow(selinux.user, `${path}.seLinuxOptions.user`, [''], 'custom SELinux users are not allowed');
    checker.allow(selinux.role, `${path}.seLinuxOptions.role`, [''], 'custom SELinux roles are not allowed');
  }
}

function checkContainer(checker: Checker, container: Json, path: string): void {
  list(container.ports).forEach((port, index) => {
    checker.allow(
      record(port)?.hostPort,
      `${path}.ports[${index}].hostPort`,
      [0],
      'hostPorts are not allowed',
    );
  });
  const context = record(container.securityContext);
  if (!context) return;
  const contextPath = `${path}.securityContext`;
  checker.allow(
    context.privileged,
    `${contextPath}.privileged`,
    [false],
    'privileged containers are not allowed',
  );
  checker.allow(context.procMount, `${contextPath}.procMount`, ['Default'], 'procMount must be Default');
  checkSecurityOptions(checker, context, contextPath);
  list(record(context.capabilities)?.add).forEach((capability, index) => {
    if (typeof capability !== 'string' || !BASELINE_CAPABILITIES.has(capability)) {
      checker.forbid(
        `${contextPath}.capabilities.add[${index}]`,
        `adding capabilities beyond the default set is not allowed`,
      );
    }
  });
}

/** What the restricted level adds to baseline. */
function checkRestricted(checker: Checker, spec: Json, path: string): void {
  list(spec.volumes).forEach((volume, index) => {
    for (const source of Object.keys(record(volume) ?? {})) {
      if (source === 'name' || source === 'hostPath' || RESTRICTED_VOLUMES.has(source)) continue;
      checker.forbid(
        `${path}.volumes[${index}].${source}`,
        'only configMap, secret, emptyDir, projected, downwardAPI, csi, ephemeral and persistentVolumeClaim volumes are allowed',
      );
    }
  });
  const pod = record(spec.securityContext) ?? {};
  const podPath = `${path}.securityContext`;
  if (pod.runAsNonRoot !== undefined && pod.runAsNonRoot !== true) {
    checker.forbid(`${podPath}.runAsNonRoot`, 'runAsNonRoot must be true');
  }
  if (!unset(pod.runAsUser) && pod.runAsUser === 0)
    checker.forbid(`${podPath}.runAsUser`, 'runAsUser must not be 0');
  const podSeccomp = record(pod.seccompProfile)?.type;
  for (const listName of CONTAINER_LISTS) {
    list(spec[listName]).forEach((raw, index) => {
      const containerPath = `${path}.${listName}[${index}].securityContext`;
      const context = record(record(raw)?.securityContext) ?? {};
      if (context.allowPrivilegeEscalation !== false) {
        checker.forbid(`${containerPath}.allowPrivilegeEscalation`, 'allowPrivilegeEscalation must be false');
      }
      const nonRoot = context.runAsNonRoot ?? pod.runAsNonRoot;
      if (nonRoot !== true) checker.forbid(`${containerPath}.runAsNonRoot`, 'runAsNonRoot must be true');
      if (context.runAsUser === 0) checker.forbid(`${containerPath}.runAsUser`, 'runAsUser must not be 0');
      if (unset(record(context.seccompProfile)?.type) && unset(podSeccomp)) {
        checker.forbid(
          `${containerPath}.seccompProfile.type`,
          'seccomp profile must be RuntimeDefault or Localhost',
        );
      }
      const capabilities = record(context.capabilities) ?? {};
      if (!list(capabilities.drop).includes('ALL')) {
        checker.forbid(`${containerPath}.capabilities.drop`, 'capabilities must drop ALL');
      }
      list(capabilities.add).forEach((capability, addIndex) => {
        // Baseline already refused the ones outside its set; restricted allows NET_BIND_SERVICE only.
        if (capability !== 'NET_BIND_SERVICE' && BASELINE_CAPABILITIES.has(capability as string)) {
          checker.forbid(
            `${containerPath}.capabilities.add[${addIndex}]`,
            'only NET_BIND_SERVICE may be added',
          );
        }
      });
    });
  }
}
