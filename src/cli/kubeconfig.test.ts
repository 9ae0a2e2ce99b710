import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { loadOrCreatePki, writeKubeconfig } from '../hub/pki/index.ts';
import { KubeconfigError, loadKubeconfig, resolveKubeconfigPath } from './kubeconfig.ts';

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'outpost-kubeconfig-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function kubeconfigAt(name: string, document: unknown): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, typeof document === 'string' ? document : stringify(document));
  return path;
}

/** Asserts a KubeconfigError whose one-line message names the file and matches `problem`. */
async function rejectsWith(promise: Promise<unknown>, path: string, problem: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof KubeconfigError, String(error));
    assert.equal(error.path, path);
    assert.ok(error.message.includes(path), error.message);
    assert.match(error.message, problem);
    assert.ok(!error.message.includes('\n'), 'message is one line');
    return true;
  });
}

describe('resolveKubeconfigPath', () => {
  test('prefers the flag over KUBECONFIG', () => {
    assert.equal(resolveKubeconfigPath('/flag/config', { KUBECONFIG: '/env/config' }), '/flag/config');
  });

  test('takes the first non-empty entry of KUBECONFIG', () => {
    const list = ['', '/first/config', '/second/config'].join(delimiter);
    assert.equal(resolveKubeconfigPath(undefined, { KUBECONFIG: list }), '/first/config');
  });

  test('falls back to ~/.kube/config', () => {
    assert.equal(resolveKubeconfigPath(undefined, {}), join(homedir(), '.kube', 'config'));
    assert.equal(resolveKubeconfigPath('', { KUBECONFIG: '' }), join(homedir(), '.kube', 'config'));
  });
});

describe('loadKubeconfig', () => {
  test('reads back what writeKubeconfig wrote', async () => {
    const pki = await loadOrCreatePki(dir, { hosts: [] });
    const path = join(dir, 'written', 'config');
    await writeKubeconfig(path, {
      server: 'https://127.0.0.1:6443',
      caCert: pki.caCert,
      clientCert: pki.adminCert,
      clientKey: pki.adminKey,
      token: 'secret-token',
    });
    assert.deepEqual(await loadKubeconfig(path), {
      server: 'https://127.0.0.1:6443',
      caCert: pki.caCert,
      clientCert: pki.adminCert,
      clientKey: pki.adminKey,
      token: 'secret-token',
    });
  });

  test('reads certificate, key and token files relative to the kubeconfig folder', async () => {
    await mkdir(join(dir, 'files', 'certs'), { recursive: true });
    await writeFile(join(dir, 'files', 'certs', 'ca.crt'), 'CA PEM');
    await writeFile(join(dir, 'files', 'certs', 'client.crt'), 'CLIENT PEM');
    await writeFile(join(dir, 'files', 'client.key'), 'KEY PEM');
    await writeFile(join(dir, 'files', 'token'), 'file-token\n');
    const path = join(dir, 'files', 'config');
    await writeFile(
      path,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        'current-context': 'main',
        clusters: [
          { name: 'hub', cluster: { server: 'https://hub:6443', 'certificate-authority': 'certs/ca.crt' } },
        ],
        users: [
          {
            name: 'me',
            user: {
              'client-certificate': 'certs/client.crt',
              'client-key': join(dir, 'files', 'client.key'),
              tokenFile: 'token',
            },
          },
        ],
        contexts: [{ name: 'main', context: { cluster: 'hub', user: 'me' } }],
      }),
    );
    assert.deepEqual(await loadKubeconfig(path), {
      server: 'https://hub:6443',
      caCert: 'CA PEM',
      clientCert: 'CLIENT PEM',
      clientKey: 'KEY PEM',
      token: 'file-token',
    });
  });

  test('uses the chosen context, and reports insecure-skip-tls-verify', async () => {
    const path = await kubeconfigAt('two-contexts', {
      'current-context': 'a',
      clusters: [
        { name: 'ca', cluster: { server: 'https://a' } },
        { name: 'cb', cluster: { server: 'https://b', 'insecure-skip-tls-verify': true } },
      ],
      users: [{ name: 'u', user: { token: 't' } }],
      contexts: [
        { name: 'a', context: { cluster: 'ca', user: 'u' } },
        { name: 'b', context: { cluster: 'cb' } },
      ],
    });
    assert.deepEqual(await loadKubeconfig(path), { server: 'https://a', token: 't' });
    assert.deepEqual(await loadKubeconfig(path, { context: 'b' }), {
      server: 'https://b',
      insecureSkipTLSVerify: true,
    });
  });

  test('reports a missing file', async () => {
    const path = join(dir, 'absent', 'config');
    await rejectsWith(loadKubeconfig(path), path, /file not found/);
  });

  test('reports a missing current context', async () => {
    const path = await kubeconfigAt('no-current', { clusters: [], users: [], contexts: [] });
    await rejectsWith(loadKubeconfig(path), path, /no current-context/);
    const empty = await kubeconfigAt('empty', '');
    await rejectsWith(loadKubeconfig(empty), empty, /no current-context/);
  });

  test('reports a current context that does not exist', async () => {
    const path = await kubeconfigAt('dangling', { 'current-context': 'gone', contexts: [] });
    await rejectsWith(loadKubeconfig(path), path, /context "gone" is missing/);
  });

  test('reports a missing cluster, server or user', async () => {
    const noCluster = await kubeconfigAt('no-cluster', {
      'current-context': 'c',
      contexts: [{ name: 'c', context: { cluster: 'x' } }],
    });
    await rejectsWith(loadKubeconfig(noCluster), noCluster, /cluster "x" of context "c" is missing/);
    const noServer = await kubeconfigAt('no-server', {
      'current-context': 'c',
      clusters: [{ name: 'x', cluster: {} }],
      contexts: [{ name: 'c', context: { cluster: 'x' } }],
    });
    await rejectsWith(loadKubeconfig(noServer), noServer, /cluster "x" has no server/);
    const noUser = await kubeconfigAt('no-user', {
      'current-context': 'c',
      clusters: [{ name: 'x', cluster: { server: 'https://x' } }],
      contexts: [{ name: 'c', context: { cluster: 'x', user: 'nobody' } }],
    });
    await rejectsWith(loadKubeconfig(noUser), noUser, /user "nobody" of context "c" is missing/);
  });

  test('reports a referenced file that cannot be read', async () => {
    const path = await kubeconfigAt('bad-ref', {
      'current-context': 'c',
      clusters: [{ name: 'x', cluster: { server: 'https://x', 'certificate-authority': 'missing.crt' } }],
      contexts: [{ name: 'c', context: { cluster: 'x' } }],
    });
    await rejectsWith(loadKubeconfig(path), path, /cannot read referenced file .*missing\.crt/);
  });

  test('reports YAML that does not parse', async () => {
    const path = await kubeconfigAt('broken', 'clusters: [unclosed\n');
    await rejectsWith(loadKubeconfig(path), path, /not valid YAML/);
  });
});
