/**
 * The anonymous enrollment endpoints against the attacks of issue 14 (item 5),
 * on a hub process: the poll hands a certificate only to a request signed
 * with the enrollment key, issues the enrollment certificate once (a repeat
 * gets the same validity, never a fresh one), refuses the enrollment key
 * once the device has renewed, and answers an unknown device exactly as a
 * wrong key; `/enroll/ca` answers an unknown token id as a known one.
 */
import assert from 'node:assert/strict';
import { sign, X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type DeviceCredentials,
  enroll,
  generateKeyPem,
  loadCredentials,
  publicKeyHash,
  renewCredentials,
} from '../../src/agent/enrollment/index.ts';
import { pollProof } from '../../src/api/index.ts';
import {
  type ApiClient,
  apiClient,
  createToken,
  enrollBody,
  FACTS,
  type HubProcess,
  hubRequest,
  outpost,
  removeDir,
  startHubProcess,
  tempDir,
  waitFor,
} from '../support/index.ts';

const DEVICES = '/apis/outpost.dev/v1alpha1/devices';

/** A poll body for `name` signed with `keyPem` over `time` (the hub's clock by default). */
function signedPoll(name: string, keyPem: string, time = new Date().toISOString()) {
  const signature = sign('sha256', pollProof(name, time), { key: keyPem, dsaEncoding: 'der' });
  return { name, time, signature: signature.toString('base64') };
}

function notAfterOf(certificate: unknown): string {
  return new X509Certificate(String(certificate)).validTo;
}

describe('the anonymous enrollment endpoints', () => {
  let hub: HubProcess;
  let admin: ApiClient;
  const dirs: string[] = [];
  const deviceDir = async () => {
    const dir = await tempDir('outpost-poll-device-');
    dirs.push(dir);
    return dir;
  };
  const annotationsOf = async (name: string): Promise<Record<string, string>> =>
    (await admin.request('GET', `${DEVICES}/${name}`)).json().metadata.annotations;
  /** The manual-approval device the tests share: its enrollment key and, once issued, its credentials. */
  let enrollmentKey: string;
  let credentials: DeviceCredentials;
  let dir: string;

  before(async () => {
    hub = await startHubProcess();
    admin = apiClient(hub.kubeconfig);
  });
  after(async () => {
    await admin?.close();
    await hub?.stop();
    if (hub) await removeDir(hub.dataDir);
    for (const path of dirs) await removeDir(path);
  });

  it('hands the certificate only to a poll signed with the enrollment key, and answers an unknown device as a wrong key', async (t) => {
    const token = await createToken(hub, ['--approve', 'manual']);
    dir = await deviceDir();
    let pending = 0;
    const enrolling = enroll({
      hubUrl: hub.url,
      token,
      name: 'gw-poll',
      dataDir: dir,
      facts: FACTS,
      pollIntervalMs: 100,
      onPending: () => pending++,
    });
    await waitFor('the agent polling', () => pending >= 2);
    enrollmentKey = await readFile(join(dir, 'enrollment.key'), 'utf8');
    assert.match(await outpost(hub, ['device', 'approve', 'gw-poll']), /approved/);
    credentials = await enrolling;

    // The attack: the key's hash is public (every certificate shows the key), the old poll asked for nothing else.
    const old = await hubRequest(
      hub,
      'GET',
      `/enroll/devices/gw-poll?publicKeyHash=${publicKeyHash(credentials.certPem)}`,
    );
    assert.notEqual(old.status, 200);
    assert.equal(old.body.certificate, undefined);

    // Signed with another key, for the real device and for one that does not exist: one answer.
    const otherKey = await generateKeyPem();
    const wrongKey = await hubRequest(hub, 'POST', '/enroll/poll', { body: signedPoll('gw-poll', otherKey) });
    const unknown = await hubRequest(hub, 'POST', '/enroll/poll', {
      body: signedPoll('gw-nobody', otherKey),
    });
    const garbage = await hubRequest(hub, 'POST', '/enroll/poll', {
      body: { ...signedPoll('gw-poll', otherKey), signature: 'AAAA' },
    });
    for (const answer of [wrongKey, unknown, garbage]) {
      assert.equal(answer.status, 401);
      assert.equal(answer.body.certificate, undefined);
    }
    assert.deepEqual(wrongKey.body, unknown.body, 'the same body for an unknown device and a wrong key');
    assert.deepEqual(garbage.body, unknown.body);
    assert.doesNotMatch(JSON.stringify(unknown.body), /gw-nobody|gw-poll/, 'no name in the answer');

    // Similar timing: interleaved, the medians of the two refusals are close.
    const timed = async (name: string) => {
      const started = performance.now();
      const answer = await hubRequest(hub, 'POST', '/enroll/poll', { body: signedPoll(name, otherKey) });
      assert.equal(answer.status, 401);
      return performance.now() - started;
    };
    const known: number[] = [];
    const missing: number[] = [];
    for (let i = 0; i < 20; i++) {
      // Each goes first half of the time: the first of a pair may pay for what the other then finds warm.
      if (i % 2 === 0) known.push(await timed('gw-poll'));
      missing.push(await timed(`gw-missing-${i}`));
      if (i % 2 === 1) known.push(await timed('gw-poll'));
    }
    const median = (values: number[]) => values.sort((a, b) => a - b)[values.length >> 1]!;
    const [a, b] = [median(known), median(missing)];
    t.diagnostic(
      `median refusal: ${a.toFixed(1)} ms for a wrong key, ${b.toFixed(1)} ms for an unknown device`,
    );
    assert.ok(
      Math.abs(a - b) < Math.max(5, 0.5 * Math.max(a, b)),
      `medians ${a.toFixed(1)} ms and ${b.toFixed(1)} ms`,
    );

    // A poll signed far from the hub's clock is refused for its time, before anything is read.
    const late = await hubRequest(hub, 'POST', '/enroll/poll', {
      body: signedPoll('gw-poll', enrollmentKey, new Date(Date.now() - 3600_000).toISOString()),
    });
    assert.equal(late.status, 400);
    assert.match(String(late.body.message), /is -36\d\d s from the hub's clock/);
  });

  it('issues the enrollment certificate once: a repeated poll gets the same validity, not a fresh certificate', async () => {
    const first = credentials.notAfter.getTime();
    const issued = (await annotationsOf('gw-poll'))['outpost.dev/enrollment-certificate-issued'];
    assert.ok(issued && Number.isFinite(Date.parse(issued)));
    // A fresh certificate issued now would end at least a second later than the first.
    await waitFor('a second after the issue', () => Date.now() > Date.parse(issued!) + 1500);
    const again = await hubRequest(hub, 'POST', '/enroll/poll', {
      body: signedPoll('gw-poll', enrollmentKey),
    });
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.equal(Date.parse(notAfterOf(again.body.certificate)), first, 'the validity of the first issue');
  });

  it('resumes after an answer lost on the way with the certificate it was issued, through a signed poll', async () => {
    const token = await createToken(hub);
    const lost = await deviceDir();
    const { keyPem, body } = await enrollBody(token, 'gw-lost');
    const posted = await hubRequest(hub, 'POST', '/enroll', { body });
    assert.equal(posted.status, 201);
    // The agent had written its key and CA before posting; the answer never reached it.
    await writeFile(join(lost, 'enrollment.key'), keyPem, { mode: 0o600 });
    await writeFile(
      join(lost, 'enrollment-ca.crt'),
      await readFile(join(hub.dataDir, 'pki', 'ca.crt'), 'utf8'),
    );
    const resumed = await enroll({ hubUrl: hub.url, token, name: 'gw-lost', dataDir: lost, facts: FACTS });
    assert.equal(resumed.notAfter.getTime(), Date.parse(notAfterOf(posted.body.certificate)));
    assert.equal(publicKeyHash(resumed.certPem), publicKeyHash(keyPem));
  });

  it('refuses the enrollment key once the device has renewed, with the same answer as for an unknown device', async () => {
    const renewed = await renewCredentials(credentials, dir);
    assert.notEqual(publicKeyHash(renewed.keyPem), publicKeyHash(enrollmentKey));
    assert.equal((await loadCredentials(dir))?.certPem, renewed.certPem);
    const retired = (await annotationsOf('gw-poll'))['outpost.dev/enrollment-key-retired'];
    assert.ok(retired && Number.isFinite(Date.parse(retired)));
    const stolen = await hubRequest(hub, 'POST', '/enroll/poll', {
      body: signedPoll('gw-poll', enrollmentKey),
    });
    assert.equal(stolen.status, 401);
    assert.equal(stolen.body.certificate, undefined);
    const unknown = await hubRequest(hub, 'POST', '/enroll/poll', {
      body: signedPoll('gw-nobody', enrollmentKey),
    });
    assert.deepEqual(stolen.body, unknown.body);
    // Nor does the new key open the poll: it was never an enrollment key.
    const withNew = await hubRequest(hub, 'POST', '/enroll/poll', {
      body: signedPoll('gw-poll', renewed.keyPem),
    });
    assert.deepEqual(withNew.body, unknown.body);
    // The renewed device goes on.
    const mine = await hubRequest(hub, 'GET', `${DEVICES}/gw-poll`, {
      cert: renewed.certPem,
      key: renewed.keyPem,
    });
    assert.equal(mine.status, 200);
  });

  it('answers /enroll/ca for an unknown token id as for a known one', async () => {
    const token = await createToken(hub);
    const [id] = token.split('.');
    const answers = await Promise.all(
      [id, id, 'zzzzzz', 'zzzzzz'].map((tokenId) => hubRequest(hub, 'GET', `/enroll/ca?tokenId=${tokenId}`)),
    );
    for (const answer of answers) {
      assert.equal(answer.status, 200);
      assert.deepEqual(Object.keys(answer.body).sort(), ['caCertificate', 'nonce', 'signature']);
      assert.match(String(answer.body.signature), /^[0-9a-f]{64}$/);
      assert.match(String(answer.body.nonce), /^[0-9a-f]{32}$/);
    }
    assert.equal(new Set(answers.map((answer) => answer.body.signature)).size, 4, 'every answer differs');
    // The unknown id's signature does not verify: the device refuses that hub before sending anything.
    await assert.rejects(
      enroll({
        hubUrl: hub.url,
        token: 'zzzzzz.zzzzzzzzzzzzzzzz',
        name: 'gw-unknown-token',
        dataDir: await deviceDir(),
        facts: FACTS,
      }),
      /not signed with this bootstrap token/,
    );
    assert.equal((await admin.request('GET', `${DEVICES}/gw-unknown-token`)).status, 404);
  });
});
