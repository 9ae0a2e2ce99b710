import type { FieldCause, KindDefinition, KubeObject } from '../../api/index.ts';

/** One write as an admission check sees it: after defaulting and validation, before the store. */
export interface AdmissionRequest {
  readonly def: KindDefinition;
  /** The object as it will be written. Checks must not change it. */
  readonly object: KubeObject;
  /** The object as stored before this write; undefined for a create. */
  readonly old: KubeObject | undefined;
  /** The object's namespace, for a namespaced kind the check handles (undefined if missing). */
  readonly namespace: KubeObject | undefined;
  /** Who asks, for a request from a client; undefined for the hub's own writers (trusted). */
  readonly requester?: Requester | undefined;
}

/** The authenticated caller of a write (structurally the auth folder's `Identity`). */
export interface Requester {
  readonly user: string;
  readonly groups: readonly string[];
  readonly device?: string | undefined;
}

/** What a check answers: causes refuse the write (422 naming the fields), warnings reach the client. */
export interface AdmissionResult {
  readonly causes: readonly FieldCause[];
  readonly warnings?: readonly string[];
}

/**
 * A validating admission check, as the Kubernetes apiserver runs them: after
 * the object is valid, on every write (create, update, patch, apply, dry runs
 * included), with the namespace object at hand. Checks do not change what is
 * written; most are synchronous and pure (the ObjectService reads what they
 * need). A check that must refuse with another status than 422 (RBAC's
 * escalation check: 403) throws that `ApiError`.
 */
export interface AdmissionCheck {
  readonly name: string;
  /** Whether writes of this kind are checked; only for these is the namespace read. */
  handles(def: KindDefinition): boolean;
  admit(request: AdmissionRequest): AdmissionResult | Promise<AdmissionResult>;
}
