/**
 * The official Kubernetes Python client (Debian's `python3-kubernetes`, run by the system's
 * `/usr/bin/python3`) against a hub process with the admin kubeconfig: typed CRUD of core, RBAC
 * and custom kinds, watches (`watch=True`, resumed, with bookmarks), server-side apply with
 * `force=True` and the dynamic client's discovery. The assertions live in
 * `clients/python_client.py`, one scenario per test, each in a namespace of its own.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type HubProcess, ROOT, removeDir, run, startHubProcess } from '../support/index.ts';

const PYTHON = '/usr/bin/python3';
const SCRIPT = join(ROOT, 'test', 'e2e', 'clients', 'python_client.py');

describe('the official Python client', () => {
  let hub: HubProcess;

  before(async () => {
    // Bookmarks every second, so that the watch scenario sees one soon.
    hub = await startHubProcess({ args: ['--watch-bookmark-interval', '1s'] });
  });
  after(async () => {
    await hub?.stop();
    if (hub) await removeDir(hub.dataDir);
  });

  const scenario = async (name: string) => {
    const result = await run(PYTHON, [SCRIPT, hub.kubeconfig, name, `py-${name}`], {
      // The client's dynamic discovery caches under the temp dir: the hub's own keeps runs apart.
      env: { TMPDIR: hub.dataDir, PYTHONDONTWRITEBYTECODE: '1' },
    });
    assert.equal(result.code, 0, `python ${name} failed:\n${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, new RegExp(`^ok ${name}$`, 'm'));
  };

  it('creates, reads, lists, patches, replaces and deletes core, RBAC and custom objects', () =>
    scenario('crud'));

  it('watches with watch=True from a resourceVersion, resumes without duplicates and gets bookmarks', () =>
    scenario('watches'));

  it('applies server-side, refuses a conflict with 409 and forces it with force=True', () =>
    scenario('apply'));

  it('discovers every kind with the dynamic client and works with them, and reviews access', () =>
    scenario('discovery'));
});
