/**
 * Authentication and authorisation of every request, as a shared plugin: its `onRequest` hook
 * reaches every route group registered after it. A request without an identity is a 401 unless
 * its route is `anonymous` (enrollment, health); an authenticated one is decided by the
 * authoriser (403 otherwise) unless its route `authorizesItself` (telemetry, which needs
 * attributes the generic hook cannot derive). A request asking to impersonate (`kubectl --as`)
 * runs, once each asked value is allowed, as the impersonated user.
 */
import type { Logger } from 'pino';
import {
  ALLOW_ALL,
  type Authenticator,
  type Authorizer,
  actAs,
  asksToImpersonate,
  authorizeRequest,
  type Identity,
} from '../auth/index.ts';
import { errors, sharedPlugin } from '../kube-api/index.ts';
import { unauthorized } from './unauthorized.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who sent the request, set by the authentication hook; absent on anonymous routes. */
    identity?: Identity;
  }
}

/** Options of {@link authenticationPlugin}. */
export interface AuthenticationOptions {
  readonly authenticate: Authenticator;
  /** Decides every authenticated request. @default everything allowed (no check) */
  readonly authorize?: Authorizer;
  /** Where who impersonated whom is logged. @default not logged */
  readonly audit?: Logger;
}

/**
 * The authentication hook, shared: register it after `objectServicePlugin` (the authoriser reads
 * objects through the service) and before the route groups it guards.
 */
export const authenticationPlugin = sharedPlugin<AuthenticationOptions>(
  'authentication',
  async (app, options) => {
    const service = app.objectService;
    const deviceKind = service.registry.byKind('outpost.dev/v1alpha1', 'Device')!;
    app.addHook('onRequest', async (request) => {
      const authenticated = options.authenticate(request.raw);
      // Enrollment routes (`config.anonymous`) authenticate their callers themselves.
      if (!authenticated && !request.routeOptions.config.anonymous)
        throw await unauthorized(request.raw, service, deviceKind);
      if (!authenticated && asksToImpersonate(request.raw.rawHeaders)) throw errors.unauthorized();
      // From here on the request runs as whoever it impersonates, if allowed.
      const identity =
        authenticated &&
        actAs(authenticated, request.raw.rawHeaders, {
          authorizer: options.authorize ?? ALLOW_ALL,
          audit: options.audit,
          method: request.method,
          url: request.url,
        });
      if (identity) request.identity = identity;
      if (
        identity &&
        options.authorize &&
        !request.routeOptions.config.anonymous &&
        !request.routeOptions.config.authorizesItself
      )
        await authorizeRequest(options.authorize, request, identity, service);
    });
  },
  { decorators: ['objectService'] },
);
