/**
 * Small helpers the hub's controllers share (placement, OPC UA, nested networks): served kinds
 * by name, Kubernetes timestamps and the controller ownerReference.
 */
import type { KindDefinition, KubeObject, OwnerReferenceShape } from '../../api/index.ts';
import type { Client } from '../../controller/index.ts';

/** RFC 3339 to the second, as Kubernetes writes times. */
export function timestamp(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A served kind by name (the outpost.dev group); throws when the registry does not serve it. */
export function kindOf(service: Pick<Client, 'registry'>, kind: string): KindDefinition {
  const def = service.registry.byKind('outpost.dev/v1alpha1', kind);
  if (!def) throw new Error(`the registry does not serve ${kind}`);
  return def;
}

/** The controller ownerReference a rendered object carries to the object it is rendered from. */
export function controllerReference(owner: KubeObject, blockOwnerDeletion: boolean): OwnerReferenceShape {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name!,
    uid: owner.metadata.uid!,
    controller: true,
    blockOwnerDeletion,
  };
}
