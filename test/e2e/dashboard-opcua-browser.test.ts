/**
 * The dashboard's OPC UA views in a real Chromium, signed in through `outpost dashboard`: one hub,
 * one agent (process runtime), `outpost plc-sim` and an OpcUaConnector applied with kubectl. A
 * value changes on the device's page and on the connectors page while they stay open (the
 * telemetry watch, no reload); the connector's Placement shows the objects it rendered for the
 * device (a Secret's values hidden). axe-core finds no serious violation; screenshots are kept.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import {
  type AgentProcess,
  connectorManifest,
  type DashboardProcess,
  dashboardPage,
  type HubProcess,
  killWorkloads,
  kubectlApply,
  kubectlOk,
  launchChromium,
  removeConnectorPki,
  removeDir,
  screenshotDir,
  seriousViolations,
  settleAll,
  startDashboard,
  startHubProcess,
  startLabelledAgent,
  startSimulator,
  tempDir,
  waitFor,
} from '../support/index.ts';

const NS = 'plant';
const NAME = 'press-1';
const DEVICE = 'gw-dash-opcua';

describe('the dashboard shows OPC UA values live in Chromium', { timeout: 600_000 }, () => {
  let hub: HubProcess;
  let agent: AgentProcess;
  let sim: Awaited<ReturnType<typeof startSimulator>>;
  let dashboard: DashboardProcess;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let shots: string;
  let agentDir: string;
  const dirs: string[] = [];

  before(async () => {
    const simPki = await tempDir('outpost-dash-opcua-sim-');
    agentDir = await tempDir('outpost-dash-opcua-agent-');
    dirs.push(simPki, agentDir);
    hub = await startHubProcess();
    dirs.push(hub.dataDir);
    await settleAll([
      startLabelledAgent(hub, {
        name: DEVICE,
        labels: 'dash-opcua=line',
        dataDir: agentDir,
        args: ['--metrics-port', 'off'],
      }).then((started) => {
        agent = started;
      }),
      startSimulator(simPki).then((started) => {
        sim = started;
      }),
      startDashboard(hub).then((started) => {
        dashboard = started;
      }),
      launchChromium().then((started) => {
        browser = started;
      }),
      screenshotDir().then((dir) => {
        shots = dir;
      }),
    ]);
    await kubectlOk(hub, ['create', 'namespace', NS]);
    await kubectlApply(
      hub,
      connectorManifest(
        NS,
        NAME,
        sim.ready,
        { temperature: 'ns=2;s=Temperature', pressure: 'ns=2;s=Pressure' },
        { 'dash-opcua': 'line' },
      ),
    );
    ({ context, page } = await dashboardPage(browser));
  });
  after(async () => {
    await context?.close();
    await browser?.close();
    await dashboard?.stop();
    await agent?.stop();
    if (agentDir) killWorkloads(agentDir);
    await sim?.stop();
    await hub?.stop();
    for (const dir of dirs) await removeDir(dir);
    await removeConnectorPki(NS, NAME);
  });

  const accessible = async (view: string) =>
    assert.deepEqual(await seriousViolations(page), [], `${view} has no serious accessibility violation`);

  /** Waits until the value shown in `row` differs from `before` (the page is not reloaded meanwhile). */
  const changes = async (row: ReturnType<Page['getByRole']>, what: string) => {
    const value = row.locator('td.value');
    const before = await value.textContent();
    const after = await waitFor(`${what} to change on the page`, async () => {
      const now = await value.textContent();
      return now !== before ? now : undefined;
    });
    return { before, after };
  };

  it("shows the device's OPC UA values changing live, with a chart", async () => {
    await page.goto(`${dashboard.url}#/devices/${DEVICE}`);
    await page.getByRole('heading', { name: `Device ${DEVICE}` }).waitFor();
    const temperature = page.locator('table.live-values tbody tr').filter({ hasText: 'temperature' });
    await temperature.waitFor({ timeout: 120_000 });
    assert.match((await temperature.textContent()) ?? '', new RegExp(`${NS}/${NAME}`));
    const { before, after } = await changes(temperature, 'the temperature');
    // The simulator starts at 20 °C and drifts around it.
    for (const shown of [before, after])
      assert.ok(Math.abs(Number(shown) - 20) < 5, `a temperature: ${shown}`);
    await temperature.getByRole('img', { name: /temperature: last \d+ values/ }).waitFor();
    await page.screenshot({ path: join(shots, 'device-opcua.png'), fullPage: true });
    await accessible('the device page with live values');
  });

  it('lists the connector with its devices and live values on the connectors page', async () => {
    await page.getByRole('link', { name: 'Connectors' }).click();
    await page.getByRole('heading', { name: 'Connectors' }).waitFor();
    const row = page.locator('table.connectors tbody tr').filter({ hasText: `${NS}/${NAME}` });
    // matched / running / connected, from the connector's status as the hub updates it.
    await row.getByText('1 / 1 / 1').waitFor({ timeout: 120_000 });
    const pressure = page.locator('table.live-values tbody tr').filter({ hasText: 'pressure' });
    await pressure.getByRole('link', { name: DEVICE }).waitFor();
    await changes(pressure, 'the pressure');
    await page.screenshot({ path: join(shots, 'connectors.png'), fullPage: true });
    await accessible('the connectors page');
  });

  it('shows the objects the connector renders for the device, with a Secret hidden', async () => {
    await page.getByRole('link', { name: 'Placements' }).click();
    await page.getByRole('link', { name: `${NS}/${NAME}` }).click();
    await page.getByRole('heading', { name: 'Rendered objects' }).waitFor();
    assert.equal(await page.locator('select[name="rendered-device"]').inputValue(), DEVICE);
    const rendered = page.locator('details.rendered');
    await rendered.filter({ hasText: `StatefulSet ${NAME}` }).waitFor({ timeout: 60_000 });
    const secret = rendered.filter({ hasText: `Secret ${NAME}-config` });
    await secret.waitFor();
    const shown = (await secret.locator('pre').textContent()) ?? '';
    assert.match(shown, /hidden: \d+ characters/);
    // The connector's configuration names its server: its value must not be on the screen.
    assert.doesNotMatch(shown, new RegExp(sim.ready.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    await page.screenshot({ path: join(shots, 'placement-rendered.png'), fullPage: true });
    await accessible('the placement page with rendered objects');
  });
});
