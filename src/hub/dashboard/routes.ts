import { readdir, readFile } from 'node:fs/promises';
import { extname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyReply } from 'fastify';
import { ApiError, routePlugin } from '../kube-api/index.ts';

/**
 * Where `npm run build` writes the dashboard: `dist/ui` at the package's root, the same two levels
 * up from `src/hub/dashboard` (tsx), `dist/hub/dashboard` (the package) and `.test-build/hub/dashboard`.
 */
export const DEFAULT_DASHBOARD_DIR = fileURLToPath(new URL('../../../dist/ui', import.meta.url));

/** Options of {@link dashboardRoutes}. */
export interface DashboardOptions {
  /** The built dashboard (index.html and assets/). @default DEFAULT_DASHBOARD_DIR */
  readonly dir?: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
};

/** A file of the bundle, read once: the bundle is small and changes only with the package. */
interface Asset {
  readonly body: Buffer;
  readonly type: string;
  /** Vite names the assets by their content hash: those may be cached for good. */
  readonly immutable: boolean;
}

async function readBundle(dir: string): Promise<Map<string, Asset>> {
  const assets = new Map<string, Asset>();
  let entries: string[];
  try {
    entries = await readdir(dir, { recursive: true });
  } catch {
    return assets;
  }
  for (const entry of entries) {
    const path = join(dir, entry);
    const type = TYPES[extname(entry)];
    if (!type) continue;
    const name = relative(dir, path).split('\\').join('/');
    assets.set(name, { body: await readFile(path), type, immutable: name.startsWith('assets/') });
  }
  return assets;
}

/**
 * The dashboard's route group: `GET /ui/` (index.html) and `GET /ui/FILE`. Anonymous, as the
 * apiserver's `/openapi` is public: the files are code, and the data they show comes from API
 * requests that are authenticated and authorised one by one. A hub installed without the built
 * dashboard answers 404 with a Status saying how to build it.
 */
export const dashboardRoutes = routePlugin<DashboardOptions>('dashboard', async (app, options) => {
  const assets = await readBundle(options.dir ?? DEFAULT_DASHBOARD_DIR);
  const config = { anonymous: true };
  const send = (reply: FastifyReply, name: string) => {
    const asset = assets.get(name);
    if (!asset) {
      throw new ApiError(
        404,
        'NotFound',
        assets.size === 0
          ? 'the dashboard is not built into this hub: run `npm run build`'
          : `the dashboard has no file ${name}`,
      );
    }
    void reply
      .header('content-type', asset.type)
      .header('cache-control', asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
      // Everything the bundle needs comes from the hub itself: no inline script, no other origin.
      .header(
        'content-security-policy',
        "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'",
      )
      .header('x-content-type-options', 'nosniff');
    return reply.send(asset.body);
  };
  app.get('/ui', { config }, (_request, reply) => reply.redirect('/ui/', 301));
  app.get('/ui/', { config }, (_request, reply) => send(reply, 'index.html'));
  app.get<{ Params: { '*': string } }>('/ui/*', { config }, (request, reply) =>
    send(reply, request.params['*']),
  );
});
