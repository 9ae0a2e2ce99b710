/**
 * The ClusterRole aggregation controller, as Kubernetes'
 * `clusterrole-aggregation` controller: every ClusterRole with an
 * `aggregationRule` gets, in its stored `rules`, the rules of the other
 * ClusterRoles its selectors match, kept current as those are created,
 * changed, relabelled or deleted. Keyed by the aggregating role's name; any
 * ClusterRole event re-checks every aggregating role (there are few).
 */
import { clusterRoleKind, type KubeObject } from '../../api/index.ts';
import {
  type Client,
  type Controller,
  type Informer,
  keyOf,
  type Manager,
  type Reconciler,
} from '../../controller/index.ts';
import { aggregatedRules, isAggregating, sameRules } from '../auth/index.ts';

/** Who the aggregated rules are written by, in managedFields. */
export const CLUSTER_ROLE_AGGREGATION_MANAGER = 'clusterrole-aggregation-controller';

export interface ClusterRoleAggregationOptions {
  readonly service: Client;
  readonly clusterRoles: Informer;
}

/**
 * The reconciler: rereads the role from the cache, computes its rules from
 * the cache, and writes them only when they differ (with the cached
 * resourceVersion as precondition: a 409 is retried on a fresher cache).
 */
export function createClusterRoleAggregationReconciler(options: ClusterRoleAggregationOptions): Reconciler {
  const { service, clusterRoles } = options;
  return {
    name: 'clusterrole-aggregation',
    async reconcile(name) {
      const role = clusterRoles.get(undefined, name);
      if (!role || !isAggregating(role) || role.metadata.deletionTimestamp) return;
      const rules = aggregatedRules(role, clusterRoles.list());
      if (sameRules(rules, role.rules)) return;
      const next: KubeObject = { ...structuredClone(role), rules };
      await service.update(clusterRoleKind, undefined, name, next, {
        fieldManager: CLUSTER_ROLE_AGGREGATION_MANAGER,
      });
    },
  };
}

/** Adds the aggregation controller to a manager, sharing its ClusterRole informer. */
export function addClusterRoleAggregation(manager: Manager): Controller {
  const clusterRoles = manager.informer(clusterRoleKind);
  const controller = manager.controller({
    reconciler: createClusterRoleAggregationReconciler({ service: manager.client, clusterRoles }),
  });
  // A change to any ClusterRole (its rules, its labels, its removal) may change what every
  // aggregating role gathers; the role itself is queued too, in case the cache lags its event.
  controller.watch(clusterRoles, (changed) => {
    const keys = clusterRoles.list().filter(isAggregating).map(keyOf);
    if (isAggregating(changed)) keys.push(keyOf(changed));
    return keys;
  });
  return controller;
}
