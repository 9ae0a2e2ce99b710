/**
 * `outpost agent --labels`: the labels a device asks for at enrollment
 * become its Device's labels, with the bootstrap token's labels winning on a
 * conflicting key (the token is the admin's decision). Malformed labels are
 * refused by the CLI before anything is sent, and by the hub (422 with field
 * causes) for a client that sends them anyway; a refusal creates nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  type AgentProcess,
  type ApiClient,
  apiClient,
  createToken,
  enrollBody,
  type HubProcess,
  hubRequest,
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

  it("merges the agent's labels with the token's, the token winning on a conflict", async () => {
    const token = await createToken(hub, ['--labels', 'site=plant-3,tier=edge']);
    const agent = await startAgent({
      hubUrl: hub.url,
      token,
      dataDir: await dataDir(),
      name: 'gw-labelled',
      args: ['--labels', 'site=elsewhere,zone=north,example.com/role=gateway'],
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
