/**
 * The hub's one ObjectService as a decorator of the fastify instance, so that every route group
 * reads the same service (`app.objectService`) instead of each being handed its own reference.
 */
import type { ObjectService } from '../service/index.ts';
import { sharedPlugin } from './shared-plugin.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** The hub's ObjectService, decorated once by {@link objectServicePlugin}. */
    readonly objectService: ObjectService;
  }
}

/** Options of {@link objectServicePlugin}. */
export interface ObjectServicePluginOptions {
  readonly service: ObjectService;
}

/**
 * Decorates the registering instance (shared: its parent, not a child context) with
 * `objectService`. Register it before the route groups that read it; fastify refuses a second
 * registration on the same instance (a decorator is set once).
 */
export const objectServicePlugin = sharedPlugin<ObjectServicePluginOptions>(
  'object-service',
  async (app, { service }) => {
    app.decorate('objectService', service);
  },
);
