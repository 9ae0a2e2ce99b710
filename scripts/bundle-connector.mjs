#!/usr/bin/env node
// Bundles the `outpost` CLI for the connector image into one ESM file (esbuild):
// only `opcua-connector` and `plc-sim` run in it; every other subcommand's module
// is replaced by a stub whose functions say so (the hub, the agent, SQLite and
// their dependencies stay out of the image; the commands' help stays complete).
//
//   node scripts/bundle-connector.mjs OUTFILE
import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { build } from 'esbuild';

const outfile = process.argv[2];
if (!outfile) {
  console.error('usage: bundle-connector.mjs OUTFILE');
  process.exit(2);
}

const KEPT = new Set(['opcua-command.ts']);
const stubCommands = {
  name: 'stub-commands',
  setup(b) {
    b.onResolve({ filter: /-command\.ts$/ }, (args) =>
      KEPT.has(basename(args.path))
        ? undefined
        : { path: resolve(args.resolveDir, args.path), namespace: 'stub-command' },
    );
    b.onLoad({ filter: /.*/, namespace: 'stub-command' }, (args) => {
      // The functions commands.ts imports from the module, each failing with one line.
      const names = [...readFileSync(args.path, 'utf8').matchAll(/^export (?:async )?function (\w+)/gm)].map(
        (match) => match[1],
      );
      const contents = names
        .map(
          (name) =>
            `export function ${name}() { throw new Error('this image runs only opcua-connector and plc-sim'); }`,
        )
        .join('\n');
      return { contents, loader: 'js' };
    });
  },
};

await build({
  entryPoints: ['src/cli/main.ts'],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  logLevel: 'warning',
  plugins: [stubCommands],
  // An optional lock provider of node-opcua's PKI, not installed (the native one is used).
  external: ['proper-lockfile'],
  // CommonJS dependencies bundled into an ES module still call require() and read __dirname.
  banner: {
    js: [
      "import { createRequire as __outpostCreateRequire } from 'node:module';",
      "import { fileURLToPath as __outpostFileURLToPath } from 'node:url';",
      "import { dirname as __outpostDirname } from 'node:path';",
      'const require = __outpostCreateRequire(import.meta.url);',
      'const __filename = __outpostFileURLToPath(import.meta.url);',
      'const __dirname = __outpostDirname(__filename);',
    ].join('\n'),
  },
});
