/**
 * Leader election among hub replicas that share one store: exactly one
 * replica at a time holds the `outpost-system/outpost-controllers` Lease and
 * runs the controllers, as kube-controller-manager does with client-go's
 * leaderelection.
 */
import type { ObjectService } from '../kube-api/index.ts';
import { LeaderElector, type LeaderElectorOptions } from './elector.ts';
import { objectServiceLeaseLock } from './lease-lock.ts';

export { LeaderElector, type LeaderElectorOptions, type LeaderStatus } from './elector.ts';
export {
  LEADER_ELECTION_MANAGER,
  type LeaderRecord,
  type LeaseLock,
  microTime,
  type ObservedLease,
  objectServiceLeaseLock,
} from './lease-lock.ts';

/** The Lease the hub's controllers are elected through. */
export const CONTROLLER_LEASE = { namespace: 'outpost-system', name: 'outpost-controllers' } as const;

/** A {@link LeaderElector} on the controllers' Lease, written through `service`. */
export function createControllerElector(
  service: ObjectService,
  options: Omit<LeaderElectorOptions, 'lock'>,
): LeaderElector {
  return new LeaderElector({
    ...options,
    lock: objectServiceLeaseLock(service, CONTROLLER_LEASE.namespace, CONTROLLER_LEASE.name),
  });
}
