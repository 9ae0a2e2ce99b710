import { type KubeObject, type LeaseSpec, leaseKind } from '../../api/index.ts';
import { ApiError, type ObjectService, parse } from '../kube-api/index.ts';

/** The leader-election record a Lease's spec carries (client-go's LeaderElectionRecord). */
export interface LeaderRecord {
  /** Empty when nobody holds the lease (released). */
  readonly holderIdentity: string;
  readonly leaseDurationSeconds: number;
  readonly acquireTime: string;
  readonly renewTime: string;
  readonly leaseTransitions: number;
}

/** A Lease as read: its record and the resourceVersion a write must carry. */
export interface ObservedLease {
  readonly record: LeaderRecord;
  readonly resourceVersion: string;
}

/**
 * Where the election's Lease lives, read and written with resourceVersion
 * preconditions: `create` and `update` answer false when another writer got
 * there first (409), which means that writer won.
 */
export interface LeaseLock {
  /** `namespace/name`, for logs. */
  readonly description: string;
  get(): Promise<ObservedLease | undefined>;
  create(record: LeaderRecord): Promise<ObservedLease | false>;
  update(record: LeaderRecord, resourceVersion: string): Promise<ObservedLease | false>;
}

/** The field manager leader election writes Leases as. */
export const LEADER_ELECTION_MANAGER = 'outpost-leader-election';

/** A {@link LeaseLock} on a `coordination.k8s.io/v1` Lease written through the ObjectService. */
export function objectServiceLeaseLock(service: ObjectService, namespace: string, name: string): LeaseLock {
  const options = { fieldManager: LEADER_ELECTION_MANAGER };
  const body = (record: LeaderRecord, resourceVersion?: string): KubeObject => ({
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace, ...(resourceVersion ? { resourceVersion } : {}) },
    spec: { ...record },
  });
  return {
    description: `${namespace}/${name}`,
    async get() {
      try {
        return observed(parse(await service.get(leaseKind, namespace, name)));
      } catch (error) {
        if (error instanceof ApiError && error.code === 404) return undefined;
        throw error;
      }
    },
    async create(record) {
      try {
        return observed(parse(await service.create(leaseKind, namespace, body(record), options)));
      } catch (error) {
        if (error instanceof ApiError && error.code === 409) return false;
        throw error;
      }
    },
    async update(record, resourceVersion) {
      try {
        const written = await service.update(
          leaseKind,
          namespace,
          name,
          body(record, resourceVersion),
          options,
        );
        return observed(parse(written));
      } catch (error) {
        // 409: another replica wrote first. 404: it was deleted; the next round creates it.
        if (error instanceof ApiError && (error.code === 409 || error.code === 404)) return false;
        throw error;
      }
    },
  };
}

function observed(object: { metadata: { resourceVersion?: string }; spec?: unknown }): ObservedLease {
  const spec = (object.spec ?? {}) as LeaseSpec;
  return {
    resourceVersion: object.metadata.resourceVersion ?? '',
    record: {
      holderIdentity: spec.holderIdentity ?? '',
      leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
      acquireTime: spec.acquireTime ?? '',
      renewTime: spec.renewTime ?? '',
      leaseTransitions: spec.leaseTransitions ?? 0,
    },
  };
}

/** A Kubernetes MicroTime: RFC 3339 with six fractional digits. */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
