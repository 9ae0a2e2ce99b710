import { isDeepStrictEqual } from 'node:util';
import { type KubeObject, type ProfileRef, type ProfileSpec, unknownProfileRefs } from '../../api/index.ts';
import type { AdmissionCheck } from './admission.ts';

/** Options of {@link createProfileReferenceAdmission}. */
export interface ProfileReferenceAdmissionOptions {
  /** Every Device's `spec.profiles` (read when a Workload's references change). */
  readonly deviceProfiles: () => Promise<Iterable<readonly ProfileSpec[]>>;
}

/**
 * Refuses (422, naming `spec.profiles[i].name` or `.conditions[j]`) a
 * Workload that opts into a profile no Device declares, or into a condition
 * that no Device's profile of that name declares: a typo is told when the
 * Workload is written, not found later as a workload that never starts. The
 * Devices are read only when the references change (a create with
 * references, an update that changes them), so status writes and other
 * edits cost nothing. A Device may later drop a profile: its agent then
 * holds the Workload back and says so in status (`ProfileNotDeclared`).
 */
export function createProfileReferenceAdmission(options: ProfileReferenceAdmissionOptions): AdmissionCheck {
  return {
    name: 'ProfileReferences',
    handles: (def) => def.group === 'outpost.dev' && def.kind === 'Workload',
    async admit({ object, old }) {
      const refs = profilesOf(object);
      if (!refs?.length) return { causes: [] };
      if (old && isDeepStrictEqual(profilesOf(old), refs)) return { causes: [] };
      return { causes: unknownProfileRefs(refs, await options.deviceProfiles(), 'spec.profiles') };
    },
  };
}

function profilesOf(object: KubeObject): ProfileRef[] | undefined {
  return (object.spec as { profiles?: ProfileRef[] } | undefined)?.profiles;
}
