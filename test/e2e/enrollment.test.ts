/**
 * Enrollment end to end: a hub process, tokens made with the CLI, devices
 * enrolled with the agent's enrollment module; every bad input refused with
 * a Status and nothing created.
 */
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  EnrollmentError,
  enroll,
  loadCredentials,
  renewCredentials,
} from '../../src/agent/enrollment/index.ts';
import { hashTokenSecret } from '../../src/api/index.ts';
import {
  type ApiClient,
  apiClient,
  createToken,
  enrollBody,
  FACTS,
  type HubProcess,
  hubRequest,
  kubectl,
  outpost,
  removeDir,
  startHubProcess,
  tempDir,
  watchOwnMailbox,
} from '../support/index.ts';

const DEVICES = '/apis/outpost.dev/v1alpha1/devices';
const TOKENS = '/apis/outpost.dev/v1alpha1/bootstraptokens';

describe('device enrollment', () => {
  let hub: HubProcess;
  let admin: ApiClient;
  const dirs: string[] = [];
  const deviceDir = async () => {
    const dir = await tempDir('outpost-device-');
    dirs.push(dir);
    return dir;
  };
  const deviceNames = async (): Promise<string[]> =>
    (await admin.request('GET', DEVICES))
      .json()
      .items.map((item: { metadata: { name: string } }) => item.metadata.name)
      .sort();
  const usesOf = async (token: string): Promise<number> =>
    (await admin.request('GET', `${TOKENS}/${token.split('.')[0]}`)).json().status?.uses ?? 0;

  before(async () => {
    hub = await startHubProcess();
    admin = apiClient(hub.kubeconfig);
  });
  after(async () => {
    await admin?.close();
    await hub?.stop();
    await removeDir(hub.dataDir);
    for (const dir of dirs) await removeDir(dir);
  });

  it('enrolls a device with an auto-approving token: Device created with the labels and facts, key kept 0600', async () => {
    const token = await createToken(hub, ['--labels', 'site=plant-1,line=a', '--max-uses', '3']);
    assert.match(token, /^[a-z0-9]{6}\.[a-z0-9]{16}$/);
    const dir = await deviceDir();
    const credentials = await enroll({ hubUrl: hub.url, token, name: 'gw-auto', dataDir: dir, facts: FACTS });
    assert.equal(credentials.name, 'gw-auto');
    assert.equal((await stat(credentials.kubeconfigPath)).mode & 0o777, 0o600);
    const device = (await admin.request('GET', `${DEVICES}/gw-auto`)).json();
    assert.equal(device.metadata.uid, credentials.uid);
    assert.deepEqual(device.metadata.labels, { site: 'plant-1', line: 'a' });
    assert.equal(device.spec.approved, true);
    assert.equal(device.status.phase, 'Pending');
    assert.equal(device.status.system.machineId, FACTS.machineId);
    assert.equal(await usesOf(token), 1);
    // The hub keeps only the hash of the secret.
    const stored = (await admin.request('GET', `${TOKENS}/${token.split('.')[0]}`)).text;
    assert.ok(!stored.includes(token.split('.')[1]!));
    // Enrolling again with the same data dir returns the same credentials without asking the hub.
    const again = await enroll({
      hubUrl: hub.url,
      token: 'zzzzzz.zzzzzzzzzzzzzzzz',
      name: 'gw-auto',
      dataDir: dir,
    });
    assert.equal(again.certPem, credentials.certPem);
  });

  it('authenticates the device certificate with kubectl (its own Mailbox) and refuses it for another user name', async () => {
    const token = await createToken(hub);
    const dir = await deviceDir();
    const credentials = await enroll({
      hubUrl: hub.url,
      token,
      name: 'gw-kubectl',
      dataDir: dir,
      facts: FACTS,
    });
    await admin.request('POST', '/apis/outpost.dev/v1alpha1/mailboxes', {
      body: {
        apiVersion: 'outpost.dev/v1alpha1',
        kind: 'Mailbox',
        metadata: { name: 'gw-kubectl' },
        spec: {},
      },
    });
    const got = await kubectl({ kubeconfig: credentials.kubeconfigPath }, [
      'get',
      'mailbox',
      'gw-kubectl',
      '-o',
      'name',
    ]);
    assert.equal(got.code, 0, got.stderr);
    assert.equal(got.stdout.trim(), 'mailbox.outpost.dev/gw-kubectl');
    const anonymous = await hubRequest(hub, 'GET', `${DEVICES}/gw-kubectl`);
    assert.equal(anonymous.status, 401);
  });

  it('keeps a device with a manual-approval token pending until `outpost device approve`', async () => {
    const token = await createToken(hub, ['--approve', 'manual']);
    const dir = await deviceDir();
    let pending = 0;
    const enrolling = enroll({
      hubUrl: hub.url,
      token,
      name: 'gw-manual',
      dataDir: dir,
      facts: FACTS,
      pollIntervalMs: 100,
      onPending: () => pending++,
    });
    // Wait until it has polled a few times while pending: no certificate yet.
    const deadline = Date.now() + 15_000;
    while (pending < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(pending >= 3, 'the agent polls while pending');
    assert.equal(await loadCredentials(dir), undefined);
    const device = (await admin.request('GET', `${DEVICES}/gw-manual`)).json();
    assert.equal(device.spec.approved, false);
    assert.match(await outpost(hub, ['device', 'list']), /gw-manual\s+no\s+Pending/);
    // The pending key is on the device only, mode 0600.
    assert.equal((await stat(join(dir, 'enrollment.key'))).mode & 0o777, 0o600);

    assert.match(await outpost(hub, ['device', 'approve', 'gw-manual']), /approved/);
    const credentials = await enrolling;
    assert.equal(credentials.name, 'gw-manual');
    const mine = await hubRequest(hub, 'GET', `${DEVICES}`, {
      cert: credentials.certPem,
      key: credentials.keyPem,
    });
    assert.notEqual(mine.status, 401);
  });

  it('lists tokens without secrets and revokes them', async () => {
    const token = await createToken(hub, ['--max-uses', '2', '--labels', 'site=x']);
    const [id, secret] = token.split('.');
    const listed = await outpost(hub, ['token', 'list']);
    assert.match(listed, new RegExp(`${id}\\s+auto\\s+0/2`));
    assert.ok(!listed.includes(secret!));
    await outpost(hub, ['token', 'revoke', id!]);
    assert.ok(!(await outpost(hub, ['token', 'list'])).includes(id!));
    const { body } = await enrollBody(token, 'gw-revoked');
    const refused = await hubRequest(hub, 'POST', '/enroll', { body });
    assert.equal(refused.status, 401);
    assert.equal(refused.body.kind, 'Status');
    assert.match(String(refused.body.message), /not valid/);
  });

  it('makes tokens single-use unless created with --max-uses, and refuses a used-up one saying so', async () => {
    const token = await createToken(hub);
    const [id] = token.split('.');
    assert.match(await outpost(hub, ['token', 'list']), new RegExp(`${id}\\s+auto\\s+0/1\\s`));
    await enroll({ hubUrl: hub.url, token, name: 'gw-single', dataDir: await deviceDir(), facts: FACTS });
    assert.match(await outpost(hub, ['token', 'list']), new RegExp(`${id}\\s+auto\\s+1/1 \\(used up\\)`));
    await assert.rejects(
      enroll({ hubUrl: hub.url, token, name: 'gw-single-again', dataDir: await deviceDir(), facts: FACTS }),
      (error: unknown) =>
        error instanceof EnrollmentError &&
        error.terminal &&
        error.statusCode === 401 &&
        new RegExp(`bootstrap token ${id} has no uses left \\(1 of 1 used\\): ask for a new one`).test(
          error.message,
        ),
    );
    assert.ok(!(await deviceNames()).includes('gw-single-again'));
    assert.equal(await usesOf(token), 1);
    // A token written through the API without maxUses is single-use too: the hub defaults it.
    const created = await admin.request('POST', TOKENS, {
      body: {
        apiVersion: 'outpost.dev/v1alpha1',
        kind: 'BootstrapToken',
        metadata: { name: 'one000' },
        spec: { secretHash: hashTokenSecret('bbbbbbbbbbbbbbbb'), approval: 'auto' },
      },
    });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.json().spec.maxUses, 1);
  });

  it('refuses every bad enrollment with a clear Status and creates nothing', async () => {
    const token = await createToken(hub, ['--max-uses', '5']);
    const [id] = token.split('.');
    const before = await deviceNames();
    const expiredId = 'exp000';
    const expiredSecret = 'aaaaaaaaaaaaaaaa';
    const created = await admin.request('POST', TOKENS, {
      body: {
        apiVersion: 'outpost.dev/v1alpha1',
        kind: 'BootstrapToken',
        metadata: { name: expiredId },
        spec: {
          secretHash: hashTokenSecret(expiredSecret),
          approval: 'auto',
          expiration: '2020-01-01T00:00:00Z',
        },
      },
    });
    assert.equal(created.status, 201, created.text);

    const good = await enrollBody(token, 'gw-bad');
    const tampered = good.body.csr.replace(
      /-----BEGIN CERTIFICATE REQUEST-----\n([\s\S]*)\n-----END/,
      (_all, b64: string) => {
        const der = Buffer.from(b64.replace(/\n/g, ''), 'base64');
        der[der.length - 3]! ^= 0x01; // inside the signature: the DER stays well formed
        return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END`;
      },
    );
    const otherName = await enrollBody(token, 'gw-bad', 'gw-other');
    const { facts, ...withoutFacts } = good.body;
    const { machineId, ...someFacts } = facts;
    const cases: { what: string; body: unknown; status: number; message: RegExp }[] = [
      {
        what: 'wrong secret',
        body: { ...good.body, token: `${id}.0000000000000000` },
        status: 401,
        message: /not valid/,
      },
      {
        what: 'malformed token',
        body: { ...good.body, token: 'not-a-token' },
        status: 401,
        message: /malformed/,
      },
      {
        what: 'unknown token',
        body: { ...good.body, token: 'zzzzzz.zzzzzzzzzzzzzzzz' },
        status: 401,
        message: /not valid/,
      },
      {
        what: 'expired token',
        body: { ...good.body, token: `${expiredId}.${expiredSecret}` },
        status: 401,
        message: /expired/,
      },
      {
        what: 'CSR for another name',
        body: otherName.body,
        status: 400,
        message: /outpost:device:gw-other.*outpost:device:gw-bad/,
      },
      { what: 'malformed CSR', body: { ...good.body, csr: 'not a CSR' }, status: 400, message: /PKCS#10/ },
      {
        what: 'CSR with a bad signature',
        body: { ...good.body, csr: tampered },
        status: 400,
        message: /signature/,
      },
      { what: 'missing facts', body: withoutFacts, status: 422, message: /facts/ },
      {
        what: 'missing machine id',
        body: { ...good.body, facts: someFacts },
        status: 422,
        message: /facts\.machineId/,
      },
      {
        what: 'invalid device name',
        body: { ...good.body, name: 'Bad_Name' },
        status: 422,
        message: /RFC 1123/,
      },
      { what: 'a body that is not JSON', body: '{', status: 400, message: /JSON/ },
    ];
    for (const testCase of cases) {
      const { status, body } = await hubRequest(hub, 'POST', '/enroll', { body: testCase.body });
      assert.equal(status, testCase.status, `${testCase.what}: ${JSON.stringify(body)}`);
      assert.equal(body.kind, 'Status', testCase.what);
      assert.match(String(body.message), testCase.message, testCase.what);
    }
    assert.deepEqual(await deviceNames(), before, 'no Device was created');
    assert.equal(await usesOf(token), 0, 'no use was counted');

    // A taken name: refused, the existing Device untouched, no use counted.
    const taken = await enrollBody(token, 'gw-auto');
    const answer = await hubRequest(hub, 'POST', '/enroll', { body: taken.body });
    assert.equal(answer.status, 409);
    assert.equal(answer.body.reason, 'AlreadyExists');
    assert.equal(await usesOf(token), 0);
  });

  it('lets only one of two concurrent enrollments take the last use of a token', async () => {
    const token = await createToken(hub, ['--max-uses', '1']);
    const [a, b] = await Promise.all([enrollBody(token, 'gw-race-a'), enrollBody(token, 'gw-race-b')]);
    const answers = await Promise.all([
      hubRequest(hub, 'POST', '/enroll', { body: a!.body }),
      hubRequest(hub, 'POST', '/enroll', { body: b!.body }),
    ]);
    assert.deepEqual(answers.map((answer) => answer.status).sort(), [201, 401]);
    const loser = answers.find((answer) => answer.status === 401)!;
    assert.match(String(loser.body.message), /no uses left/);
    const names = await deviceNames();
    assert.equal(names.filter((name) => name.startsWith('gw-race-')).length, 1);
    assert.equal(await usesOf(token), 1);
    // And the agent reports the refusal as a terminal error.
    await assert.rejects(
      enroll({ hubUrl: hub.url, token, name: 'gw-race-c', dataDir: await deviceDir(), facts: FACTS }),
      (error: unknown) =>
        error instanceof EnrollmentError && error.terminal && /no uses left/.test(error.message),
    );
  });

  it('trusts the hub on first contact only through the token-signed CA', async () => {
    const token = await createToken(hub);
    const [id] = token.split('.');
    const ca = await hubRequest(hub, 'GET', `/enroll/ca?tokenId=${id}`);
    assert.equal(ca.status, 200);
    assert.match(String(ca.body.signature), /^[0-9a-f]{64}$/);
    // A token whose secret does not sign the CA is refused before anything is sent.
    await assert.rejects(
      enroll({
        hubUrl: hub.url,
        token: `${id}.0000000000000000`,
        name: 'gw-mitm',
        dataDir: await deviceDir(),
        facts: FACTS,
      }),
      /not signed with this bootstrap token/,
    );
    assert.ok(!(await deviceNames()).includes('gw-mitm'));
  });

  it('closes the open watch of a deleted Device within a second, then refuses its certificate; re-enrolling needs a new token', async () => {
    const token = await createToken(hub, ['--max-uses', '1']);
    const dir = await deviceDir();
    const credentials = await enroll({ hubUrl: hub.url, token, name: 'gw-gone', dataDir: dir, facts: FACTS });
    const mailbox = '/apis/outpost.dev/v1alpha1/mailboxes/gw-gone';
    await admin.request('POST', '/apis/outpost.dev/v1alpha1/mailboxes', {
      body: { apiVersion: 'outpost.dev/v1alpha1', kind: 'Mailbox', metadata: { name: 'gw-gone' }, spec: {} },
    });
    const tls = { cert: credentials.certPem, key: credentials.keyPem };
    assert.equal((await hubRequest(hub, 'GET', mailbox, tls)).status, 200);
    const watch = await watchOwnMailbox(credentials);

    const deleted = await admin.request('DELETE', `${DEVICES}/gw-gone`);
    const deletedAt = Date.now();
    assert.equal(deleted.status, 200, deleted.text);
    const endedAt = await Promise.race([
      watch.ended,
      new Promise<number>((resolve) => setTimeout(() => resolve(Number.NaN), 5000)),
    ]);
    await watch.close();
    assert.ok(endedAt - deletedAt < 1000, `the watch ended ${endedAt - deletedAt} ms after the deletion`);

    const refused = await hubRequest(hub, 'GET', mailbox, tls);
    assert.equal(refused.status, 401);
    assert.equal(refused.body.kind, 'Status');
    await assert.rejects(
      renewCredentials(credentials, dir),
      (error: unknown) => error instanceof EnrollmentError && error.statusCode === 401,
    );

    // The used-up token cannot bring the name back; a new one can, as a new Device whose old certificates stay refused.
    await assert.rejects(
      enroll({ hubUrl: hub.url, token, name: 'gw-gone', dataDir: await deviceDir(), facts: FACTS }),
      /no uses left/,
    );
    const again = await enroll({
      hubUrl: hub.url,
      token: await createToken(hub),
      name: 'gw-gone',
      dataDir: await deviceDir(),
      facts: FACTS,
    });
    assert.notEqual(again.uid, credentials.uid);
    assert.equal(
      (await hubRequest(hub, 'GET', mailbox, { cert: again.certPem, key: again.keyPem })).status,
      200,
    );
    assert.equal((await hubRequest(hub, 'GET', mailbox, tls)).status, 401);
  });
});
