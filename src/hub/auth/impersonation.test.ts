import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { openTestStore } from '../../../test/support/in-process/index.ts';
import type { KubeObject } from '../../api/index.ts';
import { buildHub } from '../http/index.ts';
import type { Identity } from './authenticate.ts';
import { authorizerOver } from './authorize.ts';
import { impersonationOf } from './impersonation.ts';
import { RbacIndex } from './rbac-index.ts';

const RBAC = 'rbac.authorization.k8s.io/v1';

const clusterRole = (name: string, rules: unknown[]): KubeObject => ({
  apiVersion: RBAC,
  kind: 'ClusterRole',
  metadata: { name },
  rules,
});
const bind = (name: string, role: string, subject: { kind: string; name: string }): KubeObject => ({
  apiVersion: RBAC,
  kind: 'ClusterRoleBinding',
  metadata: { name },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
  subjects: [{ ...subject, apiGroup: 'rbac.authorization.k8s.io' }],
});

/** Who the test's authenticator takes each caller for (by the `x-caller` header). */
const CALLERS: Record<string, Identity> = {
  alice: { user: 'alice', groups: ['team-a'] },
  carol: { user: 'carol', groups: ['impersonators'] },
  root: { user: 'root', groups: ['system:masters'] },
  // As the authenticator marks a valid device certificate.
  'gw-1': { user: 'outpost:device:gw-1', groups: ['outpost:devices'], device: 'gw-1' },
};

const POLICY: KubeObject[] = [
  // carol may impersonate bob, group team-b, a uid, the scopes extra and a service account.
  clusterRole('impersonate-some', [
    {
      apiGroups: [''],
      resources: ['users'],
      verbs: ['impersonate'],
      resourceNames: ['bob', 'system:anonymous'],
    },
    { apiGroups: [''], resources: ['groups'], verbs: ['impersonate'], resourceNames: ['team-b'] },
    { apiGroups: ['authentication.k8s.io'], resources: ['uids'], verbs: ['impersonate'] },
    { apiGroups: ['authentication.k8s.io'], resources: ['userextras/scopes'], verbs: ['impersonate'] },
  ]),
  bind('carol-impersonates', 'impersonate-some', { kind: 'Group', name: 'impersonators' }),
  // A misconfiguration: devices allowed to impersonate anyone.
  clusterRole('impersonate-all', [
    { apiGroups: ['*'], resources: ['users', 'groups', 'serviceaccounts'], verbs: ['impersonate'] },
  ]),
  bind('devices-impersonate', 'impersonate-all', { kind: 'Group', name: 'outpost:devices' }),
  // bob may read config maps; so may whoever is in team-b.
  clusterRole('read-config', [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] }]),
  bind('bob-reads', 'read-config', { kind: 'User', name: 'bob' }),
  clusterRole('basic', [
    { apiGroups: ['authentication.k8s.io'], resources: ['selfsubjectreviews'], verbs: ['create'] },
    { apiGroups: ['authorization.k8s.io'], resources: ['selfsubjectaccessreviews'], verbs: ['create'] },
  ]),
  bind('basic', 'basic', { kind: 'Group', name: 'system:authenticated' }),
];

describe('impersonation (Impersonate-* headers, kubectl --as)', () => {
  let app: FastifyInstance;
  let cleanup: () => Promise<void>;
  const audit: Array<Record<string, unknown>> = [];

  before(async () => {
    const opened = await openTestStore('outpost-impersonation-');
    cleanup = opened.cleanup;
    const sink = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split('\n')) if (line) audit.push(JSON.parse(line));
        done();
      },
    });
    ({ app } = buildHub({
      store: opened.store,
      authenticate: (request) => CALLERS[String(request.headers['x-caller'])],
      authorize: authorizerOver(RbacIndex.of(POLICY)),
      version: 'test',
      logger: pino({ level: 'info' }, sink),
    }));
    await app.ready();
    await app.inject({
      method: 'POST',
      url: '/api/v1/namespaces',
      headers: { 'x-caller': 'root' },
      payload: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } },
    });
  });
  after(async () => {
    await app?.close();
    await cleanup?.();
  });

  /**
   * A SelfSubjectReview over a real socket: a list of values goes as repeated
   * header lines, as kubectl sends them (the injector joins them into one).
   */
  const whoami = async (caller: string, headers: Record<string, string | string[]>) => {
    if (!app.server.listening) await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    const body = JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' });
    // biome-ignore lint/suspicious/noExplicitAny: an answer's JSON, read by each test as the injector's is
    return new Promise<{ statusCode: number; body: string; json: () => any }>((resolve, reject) => {
      const request = httpRequest(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/apis/authentication.k8s.io/v1/selfsubjectreviews',
          headers: { 'x-caller': caller, 'content-type': 'application/json', ...headers },
        },
        (response) => {
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => {
            text += chunk;
          });
          response.on('end', () =>
            resolve({ statusCode: response.statusCode!, body: text, json: () => JSON.parse(text) }),
          );
        },
      );
      request.on('error', reject);
      request.end(body);
    });
  };

  it("refuses a user without the impersonate verb with the apiserver's 403", async () => {
    const answer = await whoami('alice', { 'impersonate-user': 'bob' });
    assert.equal(answer.statusCode, 403);
    assert.deepEqual(answer.json(), {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message:
        'users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope',
      reason: 'Forbidden',
      details: { name: 'bob', kind: 'users' },
      code: 403,
    });
  });

  it('runs the request as the impersonated user, with system:authenticated and nothing of the caller', async () => {
    const answer = await whoami('carol', { 'impersonate-user': 'bob' });
    assert.equal(answer.statusCode, 201, answer.body);
    assert.deepEqual(answer.json().status.userInfo, { username: 'bob', groups: ['system:authenticated'] });
    // Authorised as bob: bob may list config maps, carol may not, and bob may not list secrets.
    const as = { 'x-caller': 'carol', 'impersonate-user': 'bob' };
    assert.equal(
      (await app.inject({ method: 'GET', url: '/api/v1/configmaps', headers: as })).statusCode,
      200,
    );
    assert.equal(
      (await app.inject({ method: 'GET', url: '/api/v1/configmaps', headers: { 'x-caller': 'carol' } }))
        .statusCode,
      403,
    );
    const secrets = await app.inject({ method: 'GET', url: '/api/v1/secrets', headers: as });
    assert.equal(secrets.statusCode, 403);
    assert.match(secrets.json().message, /User "bob" cannot list resource "secrets"/);
  });

  it('checks every group, uid and extra value, each as its own resource', async () => {
    const ok = await whoami('carol', {
      'impersonate-user': 'bob',
      'impersonate-group': ['team-b'],
      'impersonate-uid': 'u-1',
      'impersonate-extra-scopes': ['view', 'edit'],
    });
    assert.equal(ok.statusCode, 201, ok.body);
    assert.deepEqual(ok.json().status.userInfo, {
      username: 'bob',
      uid: 'u-1',
      groups: ['team-b', 'system:authenticated'],
      extra: { scopes: ['view', 'edit'] },
    });
    const refusals: Array<[Record<string, string | string[]>, string]> = [
      [
        { 'impersonate-user': 'bob', 'impersonate-group': ['team-b', 'admins'] },
        'groups "admins" is forbidden: User "carol" cannot impersonate resource "groups" in API group "" at the cluster scope',
      ],
      [
        { 'impersonate-user': 'bob', 'impersonate-extra-reason': 'x' },
        'userextras.authentication.k8s.io "x" is forbidden: User "carol" cannot impersonate resource "userextras/reason" in API group "authentication.k8s.io" at the cluster scope',
      ],
      [
        { 'impersonate-user': 'system:serviceaccount:default:builder' },
        'serviceaccounts "builder" is forbidden: User "carol" cannot impersonate resource "serviceaccounts" in API group "" in the namespace "default"',
      ],
      [
        { 'impersonate-user': 'eve' },
        'users "eve" is forbidden: User "carol" cannot impersonate resource "users" in API group "" at the cluster scope',
      ],
    ];
    for (const [headers, message] of refusals) {
      const answer = await whoami('carol', headers);
      assert.equal(answer.statusCode, 403, JSON.stringify(headers));
      assert.equal(answer.json().message, message);
    }
  });

  it('refuses groups, a uid or extras without a user (400)', async () => {
    const answer = await whoami('root', { 'impersonate-group': 'team-b' });
    assert.equal(answer.statusCode, 400);
    assert.match(answer.json().message, /requested \[group "team-b"\] without impersonating a user/);
  });

  it('gives an impersonated system:anonymous system:unauthenticated, not system:authenticated', async () => {
    const answer = await app.inject({
      method: 'GET',
      url: '/api/v1/namespaces/default/configmaps',
      headers: { 'x-caller': 'carol', 'impersonate-user': 'system:anonymous' },
    });
    assert.equal(answer.statusCode, 403);
    // Not even the self-reviews everyone authenticated has: the impersonated caller is not authenticated.
    assert.equal((await whoami('carol', { 'impersonate-user': 'system:anonymous' })).statusCode, 403);
  });

  it('never lets a device impersonate, even with an RBAC binding that allows it', async () => {
    const answer = await whoami('gw-1', { 'impersonate-user': 'bob' });
    assert.equal(answer.statusCode, 403);
    assert.equal(
      answer.json().message,
      'users "bob" is forbidden: User "outpost:device:gw-1" cannot impersonate resource "users" in API group "" at the cluster scope: device "gw-1" may not impersonate',
    );
    // Its own requests still work without the headers.
    assert.equal((await whoami('gw-1', {})).statusCode, 201);
  });

  it('never lets anyone, system:masters included, act as a device or as the hub', async () => {
    const attempts: Array<Record<string, string>> = [
      { 'impersonate-user': 'outpost:device:gw-1' },
      { 'impersonate-user': 'carol', 'impersonate-group': 'outpost:devices' },
      { 'impersonate-user': 'system:outpost:opcua-renderer' },
    ];
    for (const headers of attempts) {
      const answer = await whoami('root', headers);
      assert.equal(answer.statusCode, 403, JSON.stringify(headers));
      assert.match(answer.json().message, /device and hub identities come only from their certificates/);
    }
    // A device's own Mailbox stays out of reach of anyone impersonating with device-like names.
    const mailbox = await app.inject({
      method: 'GET',
      url: '/apis/outpost.dev/v1alpha1/mailboxes/gw-1',
      headers: { 'x-caller': 'carol', 'impersonate-user': 'bob' },
    });
    assert.equal(mailbox.statusCode, 403);
  });

  it('writes who impersonated whom to the audit log, and the refusals', async () => {
    audit.length = 0;
    await whoami('carol', { 'impersonate-user': 'bob', 'impersonate-group': 'team-b' });
    await whoami('alice', { 'impersonate-user': 'bob' });
    const granted = audit.find((line) => line.msg === 'impersonating');
    assert.ok(granted, JSON.stringify(audit));
    assert.equal(granted.component, 'audit');
    assert.equal(granted.user, 'carol');
    assert.deepEqual(granted.impersonated, { user: 'bob', groups: ['team-b', 'system:authenticated'] });
    assert.equal(granted.path, '/apis/authentication.k8s.io/v1/selfsubjectreviews');
    const refused = audit.find((line) => line.msg === 'impersonation refused');
    assert.ok(refused, JSON.stringify(audit));
    assert.equal(refused.user, 'alice');
    assert.equal(refused.code, 403);
  });
});

describe('impersonation headers', () => {
  it('keeps every value of a repeated header, commas included, and unescapes extra keys', () => {
    assert.deepEqual(
      impersonationOf([
        'Impersonate-User',
        'bob',
        'Impersonate-Group',
        'a,b',
        'impersonate-group',
        'c',
        'Impersonate-Extra-Acme.com%2Fproject',
        'p1',
        'Accept',
        'application/json',
      ]),
      { user: 'bob', groups: ['a,b', 'c'], extra: { 'acme.com/project': ['p1'] } },
    );
    assert.equal(impersonationOf(['Accept', 'application/json']), undefined);
  });
});
