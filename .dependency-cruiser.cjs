/**
 * Outpost's layering, checked by dependency-cruiser in `npm run lint` (docs/architecture.md,
 * "Folders", says the same in prose). Type-only imports count: they are architecture too.
 *
 *   src/util        nothing of ours
 *   src/api         util
 *   src/store       api, util (no hub, controller or agent)
 *   src/controller  api (its generic types only: biome.json names them), util; no hub
 *   src/connectors  api, util; the hub renders their config through src/api, never imports them
 *   src/hub         api, util, store, controller; never the agent
 *   src/agent       api, util; never the hub
 *   src/ui          nothing of ours: the dashboard is a browser bundle that speaks to the hub over HTTP
 *
 * `src/version.ts` (the version, read from package.json) sits beside the layers: anyone may read it.
 * The layer rules are about what ships: a test file (`*.test.ts`) may compose layers (a hub test
 * enrolling with the agent's client, a controller test on a real store).
 *
 * Every folder with an `index.ts` is entered through it alone: only the folder's own files (its
 * tests among them) import what lies behind the door. The doors are found on the disk, so a new
 * folder with an `index.ts` is guarded without a new rule here. A few folders are composites whose
 * parts are doors of their own ({@link COMPOSITES}): from outside, a part's `index.ts` may be
 * imported too, never a file past it.
 */
const { readdirSync, existsSync } = require('node:fs');
const { join } = require('node:path');

const ROOTS = ['src', 'test', 'bench', 'scripts'];

/**
 * Folders whose direct subfolders' doors are public: the hub's and the agent's parts (the CLI
 * issues certificates with `src/hub/pki`, tests enroll with `src/agent/enrollment`, without
 * loading the whole hub or agent; the agent loads src/api/policy without every kind), and the test support, whose in-process harness has its own door
 * so that process tests do not load the hub.
 */
const COMPOSITES = new Set(['src/api', 'src/hub', 'src/agent', 'test/support']);

/** Every folder under the roots that has an `index.ts`, as a repository-relative path. */
function doors() {
  const found = [];
  const walk = (dir) => {
    if (existsSync(join(dir, 'index.ts'))) found.push(dir);
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory() && entry.name !== 'node_modules') walk(join(dir, entry.name));
    }
  };
  for (const root of ROOTS) if (existsSync(root)) walk(root);
  return found.sort();
}

const literal = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A layer may import only itself and the layers named (paths under src/). */
function layer(name, from, allowed, comment) {
  const others = allowed.map((folder) => `${literal(folder)}/`).join('|');
  return {
    name,
    comment,
    severity: 'error',
    from: { path: `^${literal(from)}/`, pathNot: '\\.test\\.ts$' },
    to: { path: '^src/', pathNot: `^(${literal(from)}/|src/version\\.ts$${others ? `|${others}` : ''})` },
  };
}

module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'Modules form no import cycle (type-only imports included).',
      severity: 'error',
      from: { path: `^(${ROOTS.join('|')})/` },
      to: { circular: true },
    },
    layer(
      'util-imports-nothing-of-ours',
      'src/util',
      [],
      'src/util is the bottom: it imports nothing of ours.',
    ),
    layer(
      'api-imports-only-util',
      'src/api',
      ['src/util'],
      'src/api (kinds and wire contracts) imports only src/util.',
    ),
    layer(
      'store-below-hub-controller-agent',
      'src/store',
      ['src/api', 'src/util'],
      'src/store imports no hub, controller or agent code (only src/api and src/util).',
    ),
    layer(
      'controller-is-generic',
      'src/controller',
      ['src/api', 'src/util'],
      'The controller runtime knows no Outpost kind and nothing of the hub: it imports src/api (generic types) and src/util only.',
    ),
    layer(
      'connectors-stand-alone',
      'src/connectors',
      ['src/api', 'src/util'],
      'A connector program imports src/api (its config contract) and src/util only.',
    ),
    layer(
      'agent-not-hub',
      'src/agent',
      ['src/api', 'src/util'],
      'The agent imports nothing from the hub (nor the store or controller runtime): what both speak is in src/api, what both use in src/util.',
    ),
    layer(
      'hub-not-agent',
      'src/hub',
      ['src/api', 'src/util', 'src/store', 'src/controller'],
      'The hub imports nothing from the agent or the connectors: what both speak is in src/api (e.g. the connector config).',
    ),
    layer(
      'ui-stands-alone',
      'src/ui',
      [],
      'The dashboard (src/ui, built by Vite for the browser) imports nothing of ours: it reads the hub through its HTTP API.',
    ),
    {
      name: 'src-not-tests',
      comment: 'Production code never imports tests, test support or benchmarks.',
      severity: 'error',
      from: { path: '^src/', pathNot: '\\.test\\.ts$' },
      to: { path: '^(test|bench)/' },
    },
    {
      name: 'fixtures-for-tests',
      comment:
        'A *.fixture.ts file (test data and helpers kept beside the tests of one folder) is imported by tests only.',
      severity: 'error',
      from: { pathNot: '\\.(test|fixture)\\.ts$' },
      to: { path: '\\.fixture\\.ts$' },
    },
    ...doors().map((door) => ({
      name: `door:${door}`,
      comment: COMPOSITES.has(door)
        ? `${door}/ is entered through its index.ts or a part's (${door}/PART/index.ts) only.`
        : `${door}/ is entered through its index.ts only; import '${door}/index.ts' instead.`,
      severity: 'error',
      from: { pathNot: `^${literal(door)}/` },
      to: {
        path: `^${literal(door)}/`,
        pathNot: COMPOSITES.has(door)
          ? `^${literal(door)}/(index|[^/]+/index)\\.ts$`
          : `^${literal(door)}/index\\.ts$`,
      },
    })),
  ],
  options: {
    includeOnly: `^(${ROOTS.join('|')})/`,
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.tsx', '.mjs', '.js'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
