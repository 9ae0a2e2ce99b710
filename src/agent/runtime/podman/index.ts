/**
 * The podman runtime: each unit becomes `podman play kube` YAML (kube.ts),
 * its pods labelled so that a new agent adopts what it finds. podman-runtime.ts
 * implements the `Runtime` as a thin coordinator over parts of one job each:
 * the podman command line (exec.ts), stores and their event streams
 * (stores.ts, events.ts, rootless.ts), cached snapshots (snapshot.ts, status.ts),
 * applying and rolling out (apply.ts, rollout.ts, images.ts), stopping
 * (stop.ts), restarts (supervise.ts) and logs (logs.ts).
 */
export { createPodmanRuntime, type PodmanRuntimeOptions } from './podman-runtime.ts';
