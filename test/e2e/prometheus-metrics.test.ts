/**
 * Prometheus metrics end to end: an `outpost hub` and an `outpost agent`
 * process, and a real Prometheus (Debian's) scraping the hub over TLS with a
 * client certificate of a user bound to `outpost:metrics-reader`, and the
 * agent on loopback. Series are read back through Prometheus' HTTP API;
 * `promtool check metrics` accepts both endpoints' output; a person without
 * the role gets 403, no certificate 401, and the admin reads `/metrics` with
 * `kubectl get --raw`.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import YAML from 'yaml';
import {
  type AgentProcess,
  type ApiClient,
  apiClient,
  createToken,
  createUser,
  forbidden,
  freePort,
  type HubProcess,
  kubectl,
  kubectlAs,
  removeDir,
  run,
  startAgent,
  startHubProcess,
  stopChild,
  succeeds,
  tempDir,
  type User,
  waitFor,
} from '../support/index.ts';

const DEVICE = 'gw-metrics-1';

describe('Prometheus metrics', { timeout: 180_000 }, () => {
  let hub: HubProcess;
  let agent: AgentProcess;
  let admin: ApiClient;
  let alice: User;
  let dir: string;
  let agentPort: number;
  let prometheus: ChildProcess | undefined;
  let prometheusUrl: string;

  /** An instant query through Prometheus' HTTP API: the samples' label sets and values. */
  const query = async (expression: string) => {
    const response = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(expression)}`);
    const body = (await response.json()) as {
      status: string;
      data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
    };
    assert.equal(body.status, 'success', expression);
    return body.data.result.map((sample) => ({ labels: sample.metric, value: Number(sample.value[1]) }));
  };
  /** Waits for the expression to return at least one sample. */
  const eventually = (expression: string) =>
    waitFor(`Prometheus to return ${expression}`, async () => {
      const samples = await query(expression);
      return samples.length > 0 ? samples : undefined;
    });
  const agentMetrics = async () => {
    const response = await fetch(`http://127.0.0.1:${agentPort}/metrics`, {
      headers: { accept: 'text/plain' },
    });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
    return response.text();
  };

  before(async () => {
    dir = await tempDir('outpost-prometheus-');
    hub = await startHubProcess();
    admin = apiClient(hub.kubeconfig);
    agentPort = await freePort();
    agent = await startAgent({
      hubUrl: hub.url,
      token: await createToken(hub, ['--labels', 'site=metrics-e2e']),
      dataDir: join(dir, 'agent'),
      name: DEVICE,
      args: ['--metrics-port', String(agentPort), '--stop-workloads-on-exit'],
    });
    // Prometheus' own identity: a user bound to the built-in role, as an operator would set it up.
    const scraper = await createUser(hub, 'prometheus', []);
    await succeeds(
      kubectl(hub, [
        'create',
        'clusterrolebinding',
        'prometheus-metrics',
        '--clusterrole=outpost:metrics-reader',
        '--user=prometheus',
      ]),
      'bind the metrics-reader role',
    );
    alice = await createUser(hub, 'alice', ['team-a-devs']);
    const kubeconfig = YAML.parse(await readFile(scraper.kubeconfig, 'utf8'));
    const files = {
      ca: kubeconfig.clusters[0].cluster['certificate-authority-data'],
      cert: kubeconfig.users[0].user['client-certificate-data'],
      key: kubeconfig.users[0].user['client-key-data'],
    };
    for (const [name, data] of Object.entries(files))
      await writeFile(join(dir, `${name}.pem`), Buffer.from(data as string, 'base64'), { mode: 0o600 });
    const config = {
      global: { scrape_interval: '1s', scrape_timeout: '1s' },
      scrape_configs: [
        {
          job_name: 'outpost-hub',
          scheme: 'https',
          tls_config: {
            ca_file: join(dir, 'ca.pem'),
            cert_file: join(dir, 'cert.pem'),
            key_file: join(dir, 'key.pem'),
          },
          static_configs: [{ targets: [new URL(hub.url).host] }],
        },
        { job_name: 'outpost-agent', static_configs: [{ targets: [`127.0.0.1:${agentPort}`] }] },
      ],
    };
    await writeFile(join(dir, 'prometheus.yml'), YAML.stringify(config));
    const port = await freePort();
    prometheusUrl = `http://127.0.0.1:${port}`;
    prometheus = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'tsdb')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: 'ignore' },
    );
    await waitFor('Prometheus to be ready', async () => (await fetch(`${prometheusUrl}/-/ready`)).ok, 60_000);
  });

  after(async () => {
    if (prometheus) await stopChild(prometheus);
    await agent?.stop();
    await admin?.close();
    await hub?.stop();
    if (hub) await removeDir(hub.dataDir);
    if (dir) await removeDir(dir);
  });

  it('scrapes the hub with a client certificate and answers queries on its series', async () => {
    const up = await eventually('up{job="outpost-hub"} == 1');
    assert.equal(up.length, 1);
    // The agent's heartbeats are PATCHes of its Device's status, its Mailbox a watch that stays open.
    const puts = await eventually(
      'apiserver_request_total{job="outpost-hub",resource="devices",subresource="status",code="200"}',
    );
    assert.ok(
      puts.some((sample) => sample.labels.verb === 'PATCH' && sample.value > 0),
      JSON.stringify(puts),
    );
    const watches = await eventually(
      'apiserver_longrunning_requests{job="outpost-hub",verb="WATCH",resource="mailboxes"} >= 1',
    );
    assert.equal(watches[0]!.labels.scope, 'resource');
    await eventually(
      'histogram_quantile(0.99, sum by (le) (rate(apiserver_request_duration_seconds_bucket[1m]))) > 0',
    );
    const devices = await eventually(
      'outpost_devices{job="outpost-hub",site="metrics-e2e",phase="Online"} == 1',
    );
    assert.equal(devices.length, 1);
    await eventually('controller_reconcile_total{job="outpost-hub",controller="device-health"}');
    await eventually('outpost_store_commit_writes_count{job="outpost-hub"} > 0');
    const expiry = await eventually('outpost_device_certificate_expiry_timestamp_seconds{job="outpost-hub"}');
    assert.equal(expiry[0]!.labels.device, DEVICE);
    assert.ok(expiry[0]!.value > Date.now() / 1000, 'the device certificate expires in the future');
    // The agent reports its backlog with its heartbeats; the hub sums it by site.
    await eventually('outpost_agent_report_outbox_entries{job="outpost-hub",site="metrics-e2e"}');
    // The agent acknowledged its Mailbox: the time from written to acknowledged is measured.
    await eventually('outpost_mailbox_delivery_lag_seconds_count{job="outpost-hub"} > 0');
    await eventually('outpost_mailbox_oldest_unacknowledged_seconds{job="outpost-hub"} == 0');
    // The agent, scraped on loopback.
    await eventually('up{job="outpost-agent"} == 1');
    const memory = await eventually('process_resident_memory_bytes{job="outpost-agent"}');
    assert.ok(memory[0]!.value > 10_000_000, `agent RSS ${memory[0]!.value}`);
    const units = await query('outpost_agent_units{job="outpost-agent"}');
    assert.deepEqual(units.map((sample) => sample.labels.phase).sort(), [
      'Failed',
      'Pending',
      'Running',
      'Succeeded',
      'Unknown',
    ]);
  });

  it('serves text that promtool check metrics accepts, from the hub and from the agent', async () => {
    const hubText = await admin.request('GET', '/metrics');
    assert.equal(hubText.status, 200);
    for (const [what, text] of [
      ['hub', hubText.text],
      ['agent', await agentMetrics()],
    ] as const) {
      const checked = await run('promtool', ['check', 'metrics'], { input: text });
      assert.equal(checked.code, 0, `${what}: ${checked.stdout}${checked.stderr}`);
    }
    // The agent's table of posted metrics is still JSON for clients that do not ask for text.
    const table = await fetch(`http://127.0.0.1:${agentPort}/metrics`);
    assert.match(table.headers.get('content-type') ?? '', /^application\/json/);
  });

  it('refuses /metrics to a person without the role (403) and to no certificate (401), never 5xx', async () => {
    const stderr = await forbidden(
      kubectlAs(hub, alice, ['get', '--raw', '/metrics']),
      'alice reads /metrics',
    );
    assert.match(stderr, /metrics/);
    const ca = Buffer.from(
      YAML.parse(await readFile(hub.kubeconfig, 'utf8')).clusters[0].cluster['certificate-authority-data'],
      'base64',
    ).toString();
    const dispatcher = new Agent({ connect: { ca } });
    const anonymous = await request(`${hub.url}/metrics`, { dispatcher });
    const status = JSON.parse(await anonymous.body.text());
    await dispatcher.close();
    assert.equal(anonymous.statusCode, 401);
    assert.equal(status.kind, 'Status');
  });

  it('lets the admin read /metrics with kubectl get --raw, and a member of outpost:monitoring', async () => {
    const out = await succeeds(kubectl(hub, ['get', '--raw', '/metrics']), 'kubectl get --raw /metrics');
    assert.match(out, /^# HELP apiserver_request_total /m);
    assert.match(out, /^workqueue_depth\{controller="[a-z-]+"\} \d+$/m);
    // The built-in binding of the role: a certificate in the group is all a scraper needs.
    const monitor = await createUser(hub, 'grafana-agent', ['outpost:monitoring']);
    const scraped = await succeeds(
      kubectlAs(hub, monitor, ['get', '--raw', '/metrics']),
      'outpost:monitoring reads',
    );
    assert.match(scraped, /^apiserver_request_total\{/m);
  });
});
