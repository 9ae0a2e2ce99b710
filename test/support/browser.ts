/**
 * A real browser for the dashboard's tests: Debian's Chromium driven by playwright-core (never a
 * downloaded browser), axe-core's accessibility checks injected into the page, and screenshots
 * kept as the test's artefacts.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { ROOT } from './hub-process.ts';

/** Chromium's flags for a headless run as root on a machine without a desktop or the internet. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Starts Debian's Chromium (`/usr/bin/chromium`, installed by scripts/setup-system.sh). */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
}

/**
 * Where screenshots go: `OUTPOST_SCREENSHOTS` (e.g. `docs/screenshots`, to refresh the README's
 * pictures), else `tmp/screenshots` under the repository (ignored by git).
 */
export async function screenshotDir(): Promise<string> {
  const dir = join(ROOT, process.env.OUTPOST_SCREENSHOTS ?? join('tmp', 'screenshots'));
  await mkdir(dir, { recursive: true });
  return dir;
}

/** One accessibility violation axe-core found. */
export interface AxeViolation {
  readonly id: string;
  readonly impact?: string;
  readonly help: string;
  readonly nodes: readonly { target: readonly string[] }[];
}

let axeSource: string | undefined;

/** Runs axe-core (WCAG 2 A and AA rules) on the page as it is; returns the violations. */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  axeSource ??= await readFile(join(ROOT, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
  await page.addScriptTag({ content: axeSource });
  return page.evaluate(async () => {
    const axe = (
      globalThis as unknown as { axe: { run: (options: object) => Promise<{ violations: AxeViolation[] }> } }
    ).axe;
    const result = await axe.run({ runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa'] } });
    return result.violations.map(({ id, impact, help, nodes }) => ({
      id,
      impact,
      help,
      nodes: nodes.map((node) => ({ target: node.target })),
    }));
  });
}

/**
 * The serious and critical violations axe-core finds on the page, one line each (rule, impact,
 * help, where): what a test asserts is empty.
 */
export async function seriousViolations(page: Page): Promise<string[]> {
  return (await axeViolations(page))
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

/** A browser context and page for the dashboard's tests, with room for its tables. */
export async function dashboardPage(browser: Browser): Promise<{ context: BrowserContext; page: Page }> {
  // axe-core is injected as an inline script, which the dashboard's Content-Security-Policy forbids.
  const context = await browser.newContext({ bypassCSP: true, viewport: { width: 1280, height: 900 } });
  return { context, page: await context.newPage() };
}
