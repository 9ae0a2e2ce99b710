/**
 * Certificate rotation end to end, with a hub whose device certificates live
 * six seconds and may be renewed up to four seconds after expiry.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  type DeviceCredentials,
  EnrollmentError,
  enroll,
  loadCredentials,
  renewCredentials,
  startRenewal,
} from '../../src/agent/enrollment/index.ts';
import {
  type ApiClient,
  apiClient,
  createToken,
  FACTS,
  type HubProcess,
  hubRequest,
  removeDir,
  startHubProcess,
  tempDir,
  waitFor,
  watchOwnMailbox,
} from '../support/index.ts';

const LIFETIME_S = 6;
const GRACE_S = 4;
const MAILBOXES = '/apis/outpost.dev/v1alpha1/mailboxes';

describe('device certificate renewal', () => {
  let hub: HubProcess;
  let admin: ApiClient;
  let token: string;
  const dirs: string[] = [];

  const enrolled = async (name: string): Promise<{ dir: string; credentials: DeviceCredentials }> => {
    const dir = await tempDir('outpost-device-');
    dirs.push(dir);
    await admin.request('POST', MAILBOXES, {
      body: { apiVersion: 'outpost.dev/v1alpha1', kind: 'Mailbox', metadata: { name }, spec: {} },
    });
    return { dir, credentials: await enroll({ hubUrl: hub.url, token, name, dataDir: dir, facts: FACTS }) };
  };
  /** The messages of the device's CertificateRenewed Events, once there is one. */
  const renewedEvents = (name: string) =>
    waitFor(`a CertificateRenewed Event about ${name}`, async () => {
      const selector = encodeURIComponent(`involvedObject.name=${name},reason=CertificateRenewed`);
      const answer = await admin.request(
        'GET',
        `/api/v1/namespaces/default/events?fieldSelector=${selector}`,
      );
      const items = (answer.json() as { items: Array<{ message: string; type: string }> }).items;
      return items.length > 0 ? items : undefined;
    });
  /** The expiry the hub recorded on the Device, as a time. */
  const recordedExpiry = async (name: string) => {
    const device = (await admin.request('GET', `/apis/outpost.dev/v1alpha1/devices/${name}`)).json() as {
      status?: { certificate?: { notAfter?: string } };
    };
    const notAfter = device.status?.certificate?.notAfter;
    return notAfter === undefined ? undefined : new Date(notAfter).getTime();
  };
  const getOwnMailbox = async (credentials: DeviceCredentials) =>
    (
      await hubRequest(hub, 'GET', `${MAILBOXES}/${credentials.name}`, {
        cert: credentials.certPem,
        key: credentials.keyPem,
      })
    ).status;

  before(async () => {
    hub = await startHubProcess({
      args: ['--device-cert-lifetime', `${LIFETIME_S}s`, '--device-renewal-grace', `${GRACE_S}s`],
    });
    admin = apiClient(hub.kubeconfig);
    // One token for every device of this file.
    token = await createToken(hub, ['--max-uses', '10']);
  });
  after(async () => {
    await admin?.close();
    await hub?.stop();
    await removeDir(hub.dataDir);
    for (const dir of dirs) await removeDir(dir);
  });

  it('renews at two thirds of the lifetime while a watch stays open, and uses the new certificate after', async () => {
    const { dir, credentials } = await enrolled('gw-rotate');
    // The expiry is in the API from enrollment on (kubectl get devices -o wide, the dashboard).
    assert.equal(await recordedExpiry('gw-rotate'), credentials.notAfter.getTime());
    const watch = await watchOwnMailbox(credentials);
    let renewal: ReturnType<typeof startRenewal> | undefined;
    const renewed = new Promise<DeviceCredentials>((resolve, reject) => {
      renewal = startRenewal({ dataDir: dir, credentials, onRenewed: resolve, onError: reject });
    });
    try {
      const next = await renewed;
      assert.ok(Date.now() < credentials.notAfter.getTime(), 'renewed before the old certificate expired');
      assert.ok(next.notAfter > credentials.notAfter);
      assert.notEqual(next.keyPem, credentials.keyPem, 'a new key');
      assert.equal(next.uid, credentials.uid);
      assert.equal((await loadCredentials(dir))?.certPem, next.certPem, 'saved in the data dir');
      assert.equal(renewal!.current(), next);
      assert.equal(await recordedExpiry('gw-rotate'), next.notAfter.getTime(), 'the renewed expiry recorded');

      // The watch opened with the old certificate is still running: a change reaches it.
      const seen = watch.events.length;
      const patched = await admin.request('PATCH', `${MAILBOXES}/gw-rotate`, {
        body: { metadata: { labels: { rotated: 'yes' } } },
        contentType: 'application/merge-patch+json',
      });
      assert.equal(patched.status, 200, patched.text);
      await waitFor(
        'the event on the old watch',
        async () => (watch.events.slice(seen).some((line) => line.includes('"rotated"')) ? true : undefined),
        5000,
      );
      assert.equal(await getOwnMailbox(next), 200);
      const [told] = await renewedEvents('gw-rotate');
      assert.equal(told!.type, 'Normal');
      assert.match(told!.message, /^device gw-rotate renewed its certificate: the new one is valid until /);
    } finally {
      renewal?.stop();
      await watch.close();
    }
  });

  it('renews an expired certificate within the grace period, and refuses one past it', async () => {
    const [a, b] = await Promise.all([enrolled('gw-grace-a'), enrolled('gw-grace-b')]);
    await waitFor(
      'expiry',
      async () => (Date.now() > a.credentials.notAfter.getTime() + 500 ? true : undefined),
      15_000,
    );
    assert.equal(
      await getOwnMailbox(a.credentials),
      401,
      'an expired certificate does not authenticate requests',
    );
    const renewed = await renewCredentials(a.credentials, a.dir);
    assert.ok(renewed.notAfter.getTime() > Date.now());
    assert.equal(await getOwnMailbox(renewed), 200);
    const [told] = await renewedEvents('gw-grace-a');
    assert.match(told!.message, /renewed its certificate after it expired \(within the grace period\)/);

    const beyond = b.credentials.notAfter.getTime() + GRACE_S * 1000 + 500;
    await waitFor(
      'the end of the grace period',
      async () => (Date.now() > beyond ? true : undefined),
      20_000,
    );
    await assert.rejects(
      renewCredentials(b.credentials, b.dir),
      (error: unknown) =>
        error instanceof EnrollmentError &&
        error.statusCode === 401 &&
        error.terminal &&
        /grace/.test(error.message),
    );
  });
});
