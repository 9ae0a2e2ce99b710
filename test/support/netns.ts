/** Entering a named network namespace: see `nsenterArgs` in src/util/network-levels.ts. */
export { nsenterArgs } from '../../src/util/index.ts';
