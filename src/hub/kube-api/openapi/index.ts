/**
 * The OpenAPI documents of the served kinds (Swagger 2.0 and OpenAPI 3.0 per group version),
 * generated from the kinds' TypeBox schemas with their patch strategies, and the routes that serve
 * them as the apiserver does.
 */
export { buildOpenApiDocuments, type OpenApiDocuments } from './documents.ts';
export { type OpenApiOptions, openApiRoutes } from './routes.ts';
