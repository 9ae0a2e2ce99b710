/**
 * `outpost agent --labels`: the labels a device asks for at enrollment
 * become its Device's labels only when its bootstrap token allows them
 * (`outpost token create --allow-labels`, or the same value as the token's
 * own `--labels`); any other is refused with the hub's reason, the agent
 * exits non-zero and nothing is created. After enrollment only people change
 * a device's labels. Malformed labels are refused by the CLI before anything
 * is sent, and by the hub (422 with field causes) for a client that sends
 * them anyway.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type AgentProcess,
  type ApiClient,
  apiClient,
  createToken,
  enrollBody,
  type HubProcess,
  hubRequest,
  kubectl,
  OUTPOST_BIN,
  removeDir,
  run,
  startAgent,
  startHubProcess,
  tempDir,
} from '../support/index.ts';

describe('device labels asked for at enrollment', { timeout: 180_000 }, () => {
  let hub: HubProcess;
  let api: ApiClient;
  const agents: AgentProcess[] = [];
  const dirs: string[] = [];

  const deviceStatus = async (name: string) =>
    (await api.request('GET', `/apis/outpost.dev/v1alpha1/devices/${name}`)).status;

  before(async () => {
    hub = await startHubProcess();
    api = apiClient(hub.kubeconfig);
  });

  after(async () => {
    for (const agent of agents) await agent.stop();
    await api?.close();
    await hub?.stop();
    for (const dir of [...dirs, hub?.dataDir]) if (dir) await removeDir(dir);
  });

  const dataDir = async () => {
    const dir = await tempDir('outpost-agent-labels-');
    dirs.push(dir);
    return dir;
  };

  /** Runs `outpost agent` until it exits (it does when its enrollment is refused). */
  const runAgentOnce = async (token: string, name: string, labels: string) =>
    run(
      process.execPath,
      [
        OUTPOST_BIN,
        'agent',
        '--hub',
        hub.url,
        '--token',
        token,
        '--data-dir',
        await dataDir(),
        '--name',
        name,
        '--labels',
        labels,
      ],
      { timeoutMs: 60_000 },
    );
  const usesOf = async (token: string) =>
    (await api.request('GET', `/apis/outpost.dev/v1alpha1/bootstraptokens/${token.split('.')[0]}`)).json()
      .status?.uses ?? 0;

  it('gives a device the labels it asks for that its token allows, beside the token’s own', async () => {
    const token = await createToken(hub, [
      '--labels',
      'site=plant-3,tier=edge',
      '--allow-labels',
      'zone=north|south,example.com/role',
    ]);
    const agent = await startAgent({
      hubUrl: hub.url,
      token,
      dataDir: await dataDir(),
      name: 'gw-labelled',
      // site: the token's own value, which a device may repeat; example.com/role: any value.
      args: ['--labels', 'site=plant-3,zone=north,example.com/role=gateway'],
    });
    agents.push(agent);
    const device = (await api.request('GET', '/apis/outpost.dev/v1alpha1/devices/gw-labelled')).json();
    assert.deepEqual(device.metadata.labels, {
      site: 'plant-3',
      tier: 'edge',
      zone: 'north',
      'example.com/role': 'gateway',
    });
  });

  it('refuses labels the token does not allow: the agent prints the hub’s reason and exits, nothing is created, the token keeps its use', async () => {
    const token = await createToken(hub, ['--labels', 'site=plant-3', '--allow-labels', 'zone=north|south']);
    const cases = [
      // The attack of the issue: a label that selects another team's connector (and its PLC password).
      { labels: 'role=opcua-gateway', reason: /does not allow the label role=opcua-gateway \(not allowed\)/ },
      { labels: 'zone=east', reason: /does not allow the label zone=east \(allowed: zone=north\|south\)/ },
      {
        labels: 'site=elsewhere',
        reason: /does not allow the label site=elsewhere \(the token sets site=plant-3\)/,
      },
      {
        labels: 'zone=north,role=opcua-gateway,team=b',
        reason: /does not allow the labels role=opcua-gateway \(not allowed\), team=b \(not allowed\)/,
      },
    ];
    for (const [i, testCase] of cases.entries()) {
      const name = `gw-refused-${i}`;
      const result = await runAgentOnce(token, name, testCase.labels);
      assert.notEqual(result.code, 0, testCase.labels);
      assert.match(
        result.stderr,
        /enrollment of gw-refused-\d refused: bootstrap token [a-z0-9]{6} does not allow/,
      );
      assert.match(result.stderr, testCase.reason, testCase.labels);
      assert.equal(await deviceStatus(name), 404, `no Device for ${testCase.labels}`);
      assert.equal(
        (await api.request('GET', `/apis/outpost.dev/v1alpha1/mailboxes/${name}`)).status,
        404,
        `no Mailbox for ${testCase.labels}`,
      );
    }
    assert.equal(await usesOf(token), 0, 'no refusal used the token');
    // A token that allows nothing refuses every label a device asks for.
    const plain = await createToken(hub);
    const answer = await hubRequest(hub, 'POST', '/enroll', {
      body: { ...(await enrollBody(plain, 'gw-asks')).body, labels: { zone: 'north' } },
    });
    assert.equal(answer.status, 403, JSON.stringify(answer.body));
    assert.equal(answer.body.reason, 'Forbidden');
    assert.match(String(answer.body.message), /does not allow the label zone=north \(not allowed\)/);
    assert.equal(await deviceStatus('gw-asks'), 404);
    // The same token, asking for nothing, enrolls: the refusals cost it no use.
    const enrolled = await startAgent({
      hubUrl: hub.url,
      token,
      dataDir: await dataDir(),
      name: 'gw-unlabelled',
    });
    agents.push(enrolled);
    const device = (await api.request('GET', '/apis/outpost.dev/v1alpha1/devices/gw-unlabelled')).json();
    assert.deepEqual(device.metadata.labels, { site: 'plant-3' });
  });

  it('lets only people change a device’s labels after enrollment', async () => {
    const agent = agents[0]!;
    const device = { kubeconfig: join(agent.dataDir, 'kubeconfig') };
    const relabel = await kubectl(device, ['label', 'device', 'gw-labelled', 'role=opcua-gateway']);
    assert.notEqual(relabel.code, 0);
    assert.match(relabel.stderr, /forbidden/i);
    // Through its status the device writes status only: the labels it sends are ignored.
    const viaStatus = await kubectl(device, [
      'patch',
      'device',
      'gw-labelled',
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ metadata: { labels: { role: 'opcua-gateway' } } }),
    ]);
    assert.equal(viaStatus.code, 0, viaStatus.stderr);
    const labels = async () =>
      (await api.request('GET', '/apis/outpost.dev/v1alpha1/devices/gw-labelled')).json().metadata.labels;
    assert.equal((await labels()).role, undefined);
    // A person (the admin) may.
    const byAdmin = await kubectl(hub, ['label', 'device', 'gw-labelled', 'role=opcua-gateway']);
    assert.equal(byAdmin.code, 0, byAdmin.stderr);
    assert.equal((await labels()).role, 'opcua-gateway');
  });

  it('refuses malformed labels in the CLI, before contacting the hub', async () => {
    const token = await createToken(hub);
    const result = await run(process.execPath, [
      OUTPOST_BIN,
      'agent',
      '--hub',
      hub.url,
      '--token',
      token,
      '--data-dir',
      await dataDir(),
      '--name',
      'gw-bad-cli',
      '--labels',
      'zone=north,not a label',
    ]);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /--labels: "not a label" is not a valid key=value label/);
    assert.equal(await deviceStatus('gw-bad-cli'), 404);
  });

  it('answers 422 with a cause on labels for labels the hub cannot accept, and creates nothing', async () => {
    const token = await createToken(hub);
    const { body } = await enrollBody(token, 'gw-bad-labels');
    const answer = await hubRequest(hub, 'POST', '/enroll', {
      body: { ...body, labels: { zone: 'x'.repeat(64), 'Bad Key!': 'v', ok: 'fine' } },
    });
    assert.equal(answer.status, 422, JSON.stringify(answer.body));
    const causes = (answer.body.details as { causes: { field: string; message: string }[] }).causes;
    assert.equal(causes.length, 2, JSON.stringify(causes));
    assert.ok(causes.every((cause) => cause.field === 'labels'));
    assert.match(causes.map((cause) => cause.message).join('\n'), /Bad Key!/);
    assert.equal(await deviceStatus('gw-bad-labels'), 404);
  });

  it('stops the agent with the hub’s reason when the hub refuses its labels', async () => {
    const token = await createToken(hub);
    // Well-formed key=value for the CLI, but a value longer than 63 characters.
    const result = await run(
      process.execPath,
      [
        OUTPOST_BIN,
        'agent',
        '--hub',
        hub.url,
        '--token',
        token,
        '--data-dir',
        await dataDir(),
        '--name',
        'gw-long-label',
        '--labels',
        `zone=${'n'.repeat(64)}`,
      ],
      { timeoutMs: 60_000 },
    );
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /labels: Invalid value/);
    assert.equal(await deviceStatus('gw-long-label'), 404);
  });
});
