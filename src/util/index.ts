/**
 * Small helpers of no component: the hub and the agent both use them, and
 * neither may import the other.
 */
export { writeFileAtomic } from './atomic-write.ts';
export { networkReason } from './network-reason.ts';
export { readFileIfExists } from './read-if-exists.ts';
