/**
 * Builds the dashboard (`src/ui/`) into `dist/ui/`, which the hub serves at `/ui/`. Preact's JSX is
 * compiled by Vite's own transformer (oxc), so no Babel preset is needed; every asset is bundled
 * (no CDN: the dashboard must work on a factory network without internet).
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/ui/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../../dist/ui', import.meta.url)),
    emptyOutDir: true,
    // The hub serves these files itself; one small bundle without source maps keeps the package small.
    sourcemap: false,
  },
  logLevel: 'warn',
});
