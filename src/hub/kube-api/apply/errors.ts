/**
 * Failure modes of the server-side-apply engine, one class each, and the conflict texts the
 * apiserver writes (kubectl prints them verbatim, so the wording is kept exactly).
 */

/** One field another manager owns with a value the applied configuration would change. */
export interface ApplyConflict {
  /** The other manager's name, e.g. `kubectl-client-side-apply`. */
  readonly manager: string;
  /** How that manager last wrote the field. */
  readonly operation: 'Apply' | 'Update';
  /** The API version recorded in that manager's entry. */
  readonly apiVersion: string;
  /** The subresource of that manager's entry (e.g. `status`), absent for the main resource. */
  readonly subresource?: string | undefined;
  /** The field, written as the apiserver writes it: `.spec.replicas`, `.spec.containers[name="a"].image`. */
  readonly field: string;
}

/**
 * An apply would change fields that other managers own and `force` was not set.
 * Maps to HTTP 409 with reason `Conflict`; `message` is the apiserver's text and each conflict
 * becomes a `FieldManagerConflict` cause (`conflictCauseMessage`, field `conflict.field`).
 */
export class ApplyConflictError extends Error {
  override readonly name = 'ApplyConflictError';
  /** Sorted by manager, then in field order. Never empty. */
  readonly conflicts: readonly ApplyConflict[];

  constructor(conflicts: readonly ApplyConflict[]) {
    super(conflictMessage(conflicts));
    this.conflicts = conflicts;
  }
}

/**
 * The applied configuration cannot be used: not an object, identity fields missing or not
 * matching the live object, or a list that cannot be merged (missing or duplicate keys).
 * Maps to HTTP 422 (Invalid) with `field` as the cause's field path.
 */
export class InvalidApplyConfigError extends Error {
  override readonly name = 'InvalidApplyConfigError';
  /** Where the problem is, e.g. `.spec.containers` or `.metadata.name`; empty for the whole configuration. */
  readonly field: string;

  constructor(field: string, message: string) {
    super(field ? `${field}: ${message}` : message);
    this.field = field;
  }
}

/**
 * `metadata.managedFields` (or a FieldsV1 document in it) cannot be decoded.
 * Maps to HTTP 422 when a client sent it, to 500 when it was stored.
 */
export class InvalidManagedFieldsError extends Error {
  override readonly name = 'InvalidManagedFieldsError';
}

/**
 * How the apiserver names a manager in conflict texts: `"name"`, then ` with subresource "status"`
 * when the entry belongs to a subresource, then ` using apps/v1` for Update entries.
 */
export function describeManager(c: Omit<ApplyConflict, 'field'>): string {
  let text = quote(c.manager);
  if (c.subresource) text += ` with subresource ${quote(c.subresource)}`;
  if (c.operation === 'Update') text += ` using ${c.apiVersion}`;
  return text;
}

/** The message of one `FieldManagerConflict` status cause: `conflict with "kubectl" using v1`. */
export function conflictCauseMessage(c: ApplyConflict): string {
  return `conflict with ${describeManager(c)}`;
}

/**
 * The status message of a failed apply, exactly as the apiserver words it:
 * `Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using outpost.dev/v1alpha1: .spec.replicas`,
 * or for several: `Apply failed with 2 conflicts: conflicts with "a":\n- .x\n- .y`, managers sorted.
 */
export function conflictMessage(conflicts: readonly ApplyConflict[]): string {
  const [only] = conflicts;
  if (conflicts.length === 1 && only) {
    return `Apply failed with 1 conflict: conflict with ${describeManager(only)}: ${only.field}`;
  }
  const byManager = new Map<string, ApplyConflict[]>();
  for (const c of conflicts) {
    const id = managerIdentifier(c);
    const list = byManager.get(id) ?? [];
    list.push(c);
    byManager.set(id, list);
  }
  const lines: string[] = [];
  for (const id of [...byManager.keys()].sort()) {
    const list = byManager.get(id) ?? [];
    const [first] = list;
    if (!first) continue;
    lines.push(`conflicts with ${describeManager(first)}:`);
    for (const c of list) lines.push(`- ${c.field}`);
  }
  return `Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`;
}

/**
 * The apiserver's identifier of a manager (the JSON of its entry without fields and time;
 * Apply entries carry no apiVersion). Conflicts are grouped and sorted by it.
 */
export function managerIdentifier(c: Omit<ApplyConflict, 'field'>): string {
  return JSON.stringify({
    manager: c.manager,
    operation: c.operation,
    ...(c.operation === 'Update' ? { apiVersion: c.apiVersion } : {}),
    ...(c.subresource ? { subresource: c.subresource } : {}),
  });
}

/** Go's %q for the strings that occur here (JSON escaping agrees with it for printable text). */
function quote(s: string): string {
  return JSON.stringify(s);
}
