import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ALL_KINDS, KindRegistry } from '../../api/index.ts';
import { labelsOf } from './request-metrics.ts';

const registry = new KindRegistry(ALL_KINDS);
const labels = (method: string, url: string, contentType?: string) => {
  const [, search = ''] = url.split('?');
  return labelsOf(registry, method, url, Object.fromEntries(new URLSearchParams(search)), contentType);
};

describe('request metric labels', () => {
  it('names verbs as the apiserver does: LIST, WATCH, GET, POST, PUT, PATCH, APPLY, DELETE', () => {
    assert.equal(labels('GET', '/apis/outpost.dev/v1alpha1/devices').verb, 'LIST');
    assert.equal(labels('GET', '/apis/outpost.dev/v1alpha1/devices?watch=true').verb, 'WATCH');
    assert.equal(labels('GET', '/apis/outpost.dev/v1alpha1/watch/devices').verb, 'WATCH');
    assert.equal(labels('GET', '/apis/outpost.dev/v1alpha1/devices/gw-1').verb, 'GET');
    assert.equal(labels('POST', '/api/v1/namespaces/a/configmaps').verb, 'POST');
    assert.equal(labels('PUT', '/api/v1/namespaces/a/configmaps/c').verb, 'PUT');
    assert.equal(
      labels('PATCH', '/api/v1/namespaces/a/configmaps/c', 'application/merge-patch+json').verb,
      'PATCH',
    );
    assert.equal(
      labels('PATCH', '/api/v1/namespaces/a/configmaps/c', 'application/apply-patch+yaml').verb,
      'APPLY',
    );
    assert.equal(labels('DELETE', '/api/v1/namespaces/a/configmaps').verb, 'DELETE');
  });

  it('gives group, version, resource, subresource and scope of resource requests', () => {
    assert.deepEqual(labels('PATCH', '/apis/outpost.dev/v1alpha1/devices/gw-1/status'), {
      verb: 'PATCH',
      group: 'outpost.dev',
      version: 'v1alpha1',
      resource: 'devices',
      subresource: 'status',
      scope: 'resource',
    });
    assert.equal(labels('GET', '/api/v1/namespaces/a/configmaps').scope, 'namespace');
    assert.equal(labels('GET', '/api/v1/configmaps').scope, 'cluster');
    // A device's watch of its own Mailbox names it: one object.
    assert.equal(
      labels('GET', '/apis/outpost.dev/v1alpha1/mailboxes?watch=1&fieldSelector=metadata.name%3Dgw-1').scope,
      'resource',
    );
  });

  it('never makes a label of what a client made up: unknown resources, subresources and paths', () => {
    const made = labels('GET', '/apis/outpost.dev/v1alpha1/nothing-12345/x');
    assert.equal(made.resource, 'unknown');
    assert.equal(made.group, '');
    assert.equal(labels('GET', '/apis/outpost.dev/v1alpha1/devices/gw-1/random-99').subresource, '');
    assert.deepEqual(labels('GET', '/some/path/abc'), {
      verb: 'GET',
      group: '',
      version: '',
      resource: '',
      subresource: '',
      scope: '',
    });
  });
});
