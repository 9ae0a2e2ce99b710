/**
 * Shared capabilities as fastify plugins. A plugin is encapsulated by default: what it decorates
 * and hooks stays inside it and its children. The few capabilities every route group needs (the
 * object service, authentication, error rendering) are marked to skip that encapsulation, as the
 * `fastify-plugin` package does (fastify's documented `skip-override` symbol; the package is not a
 * dependency here), so they reach the instance that registers them and every plugin registered
 * after them.
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyPluginOptions } from 'fastify';

/** What a plugin needs registered before it, checked by fastify when the plugin loads. */
export interface PluginNeeds {
  /** Decorators of the instance, e.g. `objectService`. @default none */
  readonly decorators?: readonly string[];
}

/**
 * Marks `plugin` as a shared capability named `name`: fastify runs it on the registering instance
 * itself (no new encapsulation context), shows `name` in errors and `printPlugins()`, and fails
 * at load with a clear message when a decorator in `needs` is missing.
 */
export function sharedPlugin<Options extends FastifyPluginOptions>(
  name: string,
  plugin: (app: FastifyInstance, options: Options) => Promise<void>,
  needs: PluginNeeds = {},
): FastifyPluginAsync<Options> {
  return Object.assign(routePlugin(name, plugin, needs), { [Symbol.for('skip-override')]: true });
}

/**
 * Names an encapsulated plugin (a route group) and states the decorators it needs from its
 * parents; unlike {@link sharedPlugin}, what it registers stays inside it.
 */
export function routePlugin<Options extends FastifyPluginOptions>(
  name: string,
  plugin: (app: FastifyInstance, options: Options) => Promise<void>,
  needs: PluginNeeds = {},
): FastifyPluginAsync<Options> {
  const meta = { name, ...(needs.decorators ? { decorators: { fastify: [...needs.decorators] } } : {}) };
  return Object.assign(plugin, {
    [Symbol.for('fastify.display-name')]: name,
    [Symbol.for('plugin-meta')]: meta,
  }) as FastifyPluginAsync<Options>;
}
