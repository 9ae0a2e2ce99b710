/**
 * The resource URLs over HTTP: the resource routes plugin (requests parsed into a kind, namespace,
 * name and verb; bodies and query parameters decoded; answers negotiated as JSON, YAML or a Table;
 * watches streamed), and the fastify plumbing the hub's route groups share (the object service
 * decorator, shared and route plugins).
 */
export { type ObjectServicePluginOptions, objectServicePlugin } from './object-service-plugin.ts';
export { queryBool } from './parse-bool.ts';
export { decodeObjectBody } from './request-body.ts';
export { type ResourceRoutesOptions, resourceRoutes } from './resource-routes.ts';
export { type PluginNeeds, routePlugin, sharedPlugin } from './shared-plugin.ts';
export type { WatchStreamOptions } from './watch.ts';
