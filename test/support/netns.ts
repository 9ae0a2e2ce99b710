/**
 * Entering a named network namespace (`ip netns add`) and nothing else:
 * `nsenter --net`, not `ip netns exec`, which also makes a mount namespace
 * with its own /sys (no cgroup file system there, so an agent started that
 * way finds no cgroups and its sandbox fails). nsenter execs the command:
 * the process started is the command itself.
 */

/** The arguments of `nsenter` before the command, for the namespace `name`. */
export function nsenterArgs(name: string): string[] {
  return [`--net=/run/netns/${name}`, '--'];
}
