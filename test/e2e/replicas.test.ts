/**
 * Three `outpost hub` processes on one PostgreSQL database, started at the
 * same time on a fresh database: each serves the whole API, a write through
 * one is watched through another, resourceVersions are global, conflicting
 * writes through different replicas let exactly one win, all trust one CA,
 * and exactly one replica holds the controllers' Lease, handed over when its
 * holder is SIGKILLed.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { enroll, kubeconfigPathOf } from '../../src/agent/enrollment/index.ts';
import {
  KubectlStream,
  kubectl,
  OUTPOST_BIN,
  type ReplicaSet,
  removeDir,
  run,
  startReplicaSet,
  tempDir,
  waitFor,
} from '../support/index.ts';

/** A short lease, so that failover is measured in seconds (retry period 400 ms, renew deadline 2 s). */
const LEASE_SECONDS = 3;
const NS = 'replicas';

describe('three hub replicas on one PostgreSQL database', { timeout: 300_000 }, () => {
  let set: ReplicaSet;

  before(async () => {
    set = await startReplicaSet({ leaseDuration: `${LEASE_SECONDS}s` });
    const created = await set.clients[0]!.request('POST', '/api/v1/namespaces', {
      body: { metadata: { name: NS } },
    });
    assert.equal(created.status, 201, created.text);
  });

  after(async () => {
    await set?.stop();
  });

  const configMapPath = (name?: string) => `/api/v1/namespaces/${NS}/configmaps${name ? `/${name}` : ''}`;

  it('shares one CA: every replica’s admin kubeconfig works against every other replica', async () => {
    const cas = await Promise.all(
      set.hubs.map((hub) => readFile(join(hub.dataDir, 'pki', 'ca.crt'), 'utf8')),
    );
    assert.equal(new Set(cas).size, 1, 'the replicas started at once agreed on one CA');
    const servers = await Promise.all(
      set.hubs.map((hub) => readFile(join(hub.dataDir, 'pki', 'server.crt'), 'utf8')),
    );
    assert.equal(new Set(servers).size, set.hubs.length, 'each replica has its own serving certificate');
    for (const from of set.hubs) {
      for (const to of set.hubs) {
        const result = await run('kubectl', [
          '--kubeconfig',
          from.kubeconfig,
          '--server',
          to.url,
          'get',
          'namespace',
          NS,
          '-o',
          'name',
        ]);
        assert.equal(result.code, 0, `${from.url}'s kubeconfig against ${to.url}: ${result.stderr}`);
        assert.equal(result.stdout.trim(), `namespace/${NS}`);
      }
    }
  });

  it('accepts a device enrolled through one replica on every other replica', async () => {
    const created = await run(process.execPath, [
      OUTPOST_BIN,
      'token',
      'create',
      '--data-dir',
      set.hubs[0]!.dataDir,
    ]);
    assert.equal(created.code, 0, created.stderr);
    const deviceDir = await tempDir('outpost-replica-device-');
    try {
      const ca = await readFile(join(set.hubs[0]!.dataDir, 'pki', 'ca.crt'), 'utf8');
      const credentials = await enroll({
        hubUrl: set.hubs[0]!.url,
        token: created.stdout.trim(),
        name: 'gw-replicated',
        dataDir: deviceDir,
        caCert: ca,
      });
      const deviceKubeconfig = kubeconfigPathOf(deviceDir);
      assert.ok(credentials);
      for (const hub of set.hubs) {
        // The device reads its own Device; a replica that did not trust its certificate answers 401.
        const result = await run('kubectl', [
          '--kubeconfig',
          deviceKubeconfig,
          '--server',
          hub.url,
          'get',
          'device',
          'gw-replicated',
          '-o',
          'name',
        ]);
        assert.doesNotMatch(result.stderr, /Unauthorized|must be logged in/i, `${hub.url}: ${result.stderr}`);
        assert.equal(result.code, 0, `${hub.url}: ${result.stderr}`);
      }
    } finally {
      await removeDir(deviceDir);
    }
  });

  it('shows a kubectl write through one replica to kubectl get -w on another', async () => {
    const watch = new KubectlStream([
      '--kubeconfig',
      set.hubs[1]!.kubeconfig,
      '-v=6',
      'get',
      'configmaps',
      '-n',
      NS,
      '--watch-only',
      '--output-watch-events',
    ]);
    try {
      await watch.watching();
      const created = await kubectl(set.hubs[0]!, [
        'create',
        'configmap',
        'seen-elsewhere',
        '-n',
        NS,
        '--from-literal=a=1',
      ]);
      assert.equal(created.code, 0, created.stderr);
      await watch.printed(/ADDED\s+seen-elsewhere\s/);
      const patched = await kubectl(set.hubs[2]!, [
        'patch',
        'configmap',
        'seen-elsewhere',
        '-n',
        NS,
        '--type=merge',
        '-p',
        '{"data":{"a":"2"}}',
      ]);
      assert.equal(patched.code, 0, patched.stderr);
      await watch.printed(/MODIFIED\s+seen-elsewhere\s/);
    } finally {
      await watch.stop();
    }
  });

  it('hands out one global, increasing resourceVersion, and each replica reads the others’ writes at once', async () => {
    let previous = 0;
    for (let round = 0; round < 3; round++) {
      for (const [index, client] of set.clients.entries()) {
        const name = `global-${round}-${index}`;
        const created = await client.request('POST', configMapPath(), {
          body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { round: String(round) } },
        });
        assert.equal(created.status, 201, created.text);
        const revision = Number(created.json().metadata.resourceVersion);
        assert.ok(revision > previous, `${name} got ${revision} after ${previous}`);
        previous = revision;
        // Another replica reads it straight after the acknowledgement.
        const other = set.clients[(index + 1) % set.clients.length]!;
        const read = await other.request('GET', configMapPath(name));
        assert.equal(read.status, 200, read.text);
        assert.equal(read.json().metadata.resourceVersion, String(revision));
      }
    }
  });

  it('lets exactly one of simultaneous conflicting updates through different replicas win; the others get 409', async () => {
    const created = await set.clients[0]!.request('POST', configMapPath(), {
      body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'contended' }, data: { v: 'start' } },
    });
    assert.equal(created.status, 201, created.text);
    let resourceVersion: string = created.json().metadata.resourceVersion;
    for (let round = 0; round < 15; round++) {
      const answers = await Promise.all(
        set.clients.map((client, index) =>
          client.request('PUT', configMapPath('contended'), {
            body: {
              apiVersion: 'v1',
              kind: 'ConfigMap',
              metadata: { name: 'contended', resourceVersion },
              data: { v: `round-${round}-replica-${index}` },
            },
          }),
        ),
      );
      const statuses = answers.map((answer) => answer.status).sort();
      assert.deepEqual(statuses, [200, 409, 409], `round ${round}: ${answers.map((a) => a.text).join('\n')}`);
      const winner = answers.find((answer) => answer.status === 200)!.json();
      for (const loser of answers.filter((answer) => answer.status === 409))
        assert.equal(loser.json().reason, 'Conflict');
      const read = await set.clients[round % 3]!.request('GET', configMapPath('contended'));
      assert.deepEqual(read.json().data, winner.data, 'the stored object is the winner’s');
      resourceVersion = winner.metadata.resourceVersion;
    }
  });

  it('is ready on every replica, the leader once its controllers’ caches synced, the others with their own', async () => {
    for (const [index, client] of set.clients.entries()) {
      const ready = await waitFor(`replica ${index} ready`, async () => {
        const answer = await client.request('GET', '/readyz?verbose');
        return answer.status === 200 ? answer.text : undefined;
      });
      for (const line of ['[+]store ok', '[+]informer-sync ok', '[+]shutdown ok', 'readyz check passed'])
        assert.ok(ready.split('\n').includes(line), `replica ${index}: ${line} in ${ready}`);
    }
  });

  it('has exactly one replica leading; after SIGKILL of the leader another holds the Lease within the lease duration', async (t) => {
    const statuses = await waitFor('one leader', async () => {
      const all = await Promise.all(set.hubs.map((_, index) => set.leader(index)));
      const leading = all.filter((status) => status.leading);
      const holders = new Set(all.map((status) => status.holder));
      return leading.length === 1 && holders.size === 1 ? all : undefined;
    });
    const leaderIndex = statuses.findIndex((status) => status.leading);
    const leaderIdentity = statuses[leaderIndex]!.identity;
    assert.equal(new Set(statuses.map((status) => status.identity)).size, 3, 'identities are unique');
    const lease = await kubectl(set.hubs[(leaderIndex + 1) % 3]!, [
      'get',
      'lease',
      'outpost-controllers',
      '-n',
      'outpost-system',
      '-o',
      'json',
    ]);
    assert.equal(lease.code, 0, lease.stderr);
    const spec = JSON.parse(lease.stdout).spec;
    assert.equal(spec.holderIdentity, leaderIdentity);
    assert.equal(spec.leaseDurationSeconds, LEASE_SECONDS);
    const table = await kubectl(set.hubs[leaderIndex]!, ['get', 'leases', '-n', 'outpost-system']);
    assert.match(
      table.stdout,
      new RegExp(`outpost-controllers\\s+${leaderIdentity.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s`),
    );

    const killedAt = performance.now();
    await set.hubs[leaderIndex]!.stop('SIGKILL');
    const survivors = [0, 1, 2].filter((index) => index !== leaderIndex);
    const next = await waitFor(
      'a new leader',
      async () => {
        for (const index of survivors) {
          const status = await set.leader(index);
          if (status.leading) return { index, status };
        }
        return undefined;
      },
      LEASE_SECONDS * 1000 * 4,
    );
    const tookOver = performance.now() - killedAt;
    t.diagnostic(`another replica led ${Math.round(tookOver)} ms after the leader was SIGKILLed`);
    // The lease outlives the last renewal (at most one retry period before the kill) by its
    // duration, as the candidates measure it from when they saw that renewal; they look every
    // 1-2.2 retry periods.
    assert.ok(
      tookOver < LEASE_SECONDS * 1000 + 2 * 2.2 * 400 + 500,
      `took over after ${Math.round(tookOver)} ms`,
    );
    const other = survivors.find((index) => index !== next.index)!;
    assert.equal((await set.leader(other)).leading, false, 'only one survivor leads');
    const after = await kubectl(set.hubs[other]!, [
      'get',
      'lease',
      'outpost-controllers',
      '-n',
      'outpost-system',
      '-o',
      'json',
    ]);
    const newSpec = JSON.parse(after.stdout).spec;
    assert.equal(newSpec.holderIdentity, next.status.identity);
    assert.equal(newSpec.leaseTransitions, spec.leaseTransitions + 1);

    // The killed replica comes back as a follower.
    await set.restart(leaderIndex);
    const rejoined = await waitFor('the restarted replica to see the leader', async () => {
      const status = await set.leader(leaderIndex);
      return status.holder === next.status.identity ? status : undefined;
    });
    assert.equal(rejoined.leading, false);
    assert.notEqual(rejoined.identity, leaderIdentity, 'a restarted replica has a new identity');
  });
});
