// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${device...}` placeholders are the feature, written as users write them.
// biome-ignore-all lint/suspicious/noExplicitAny: the tests build and read arbitrary JSON.
/**
 * The objects a Workload holds are checked against the Kubernetes schemas of their kinds: unknown
 * fields per fieldValidation (Strict refuses, Warn warns in a Warning header, Ignore drops them),
 * wrong types, integers out of range, required fields, invalid names; 422 causes name the field
 * below `spec.resources[i]`. Device parameters (`${device.name}`) are left to each device.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { call, type InProcessHub, startInProcessHub } from '../support/in-process/index.ts';

const WORKLOADS = '/apis/outpost.dev/v1alpha1/namespaces/default/workloads';

let hub: InProcessHub;

before(async () => {
  hub = await startInProcessHub();
  const namespace = await call(hub.app, {
    method: 'POST',
    url: '/api/v1/namespaces',
    payload: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } },
  });
  assert.equal(namespace.status, 201, namespace.text);
});
after(async () => {
  await hub?.close();
});

let counter = 0;
/** A Workload of one Deployment whose container and spec `change` alters. */
function workload(
  change: (deployment: { spec: Record<string, any>; container: Record<string, any> }) => void,
) {
  const container: Record<string, unknown> = { name: 'web', image: 'nginx:1.27' };
  const spec: Record<string, unknown> = {
    replicas: 1,
    selector: { matchLabels: { app: 'web' } },
    template: { metadata: { labels: { app: 'web' } }, spec: { containers: [container] } },
  };
  change({ spec, container });
  return {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Workload',
    metadata: { name: `w${++counter}` },
    spec: {
      resources: [
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg' }, data: { a: 'b' } },
        { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec },
      ],
    },
  };
}

const create = (body: unknown, fieldValidation?: string) =>
  call(hub.app, {
    method: 'POST',
    url: `${WORKLOADS}${fieldValidation ? `?fieldValidation=${fieldValidation}` : ''}`,
    payload: body as object,
  });

function causes(answer: { status: number; text: string; body: any }): string[] {
  assert.equal(answer.status, 422, answer.text);
  return answer.body.details.causes.map((cause: { field: string }) => cause.field);
}

const CONTAINER = 'spec.resources[1].spec.template.spec.containers[0]';

describe('unknown fields of a held object, per fieldValidation', () => {
  const misspelt = () =>
    workload(({ container }) => {
      container.imagee = 'nginx';
      container.comand = ['sh'];
    });

  test('Strict refuses them, naming each', async () => {
    const refused = await create(misspelt(), 'Strict');
    assert.equal(refused.status, 400, refused.text);
    assert.match(refused.body.message, /strict decoding error/);
    assert.match(
      refused.body.message,
      new RegExp(`unknown field "${CONTAINER.replace(/[[\].]/g, '\\$&')}\\.imagee"`),
    );
    assert.match(refused.body.message, /containers\[0\]\.comand"/);
  });

  test('Warn keeps the object without them and says so in Warning headers', async () => {
    const warned = await create(misspelt());
    assert.equal(warned.status, 201, warned.text);
    const warnings = String(warned.headers.warning);
    assert.match(
      warnings,
      /unknown field \\?"spec\.resources\[1\]\.spec\.template\.spec\.containers\[0\]\.imagee\\?"/,
    );
    const container = warned.body.spec.resources[1].spec.template.spec.containers[0];
    assert.deepEqual(container, { name: 'web', image: 'nginx:1.27' });
  });

  test('Ignore drops them silently', async () => {
    const ignored = await create(misspelt(), 'Ignore');
    assert.equal(ignored.status, 201, ignored.text);
    assert.equal(ignored.headers.warning, undefined);
    assert.equal(ignored.body.spec.resources[1].spec.template.spec.containers[0].imagee, undefined);
  });
});

describe('values a Kubernetes apiserver refuses', () => {
  test('replicas: negative, a string, beyond 32 bits, a fraction', async () => {
    for (const replicas of [-1, '3', 1e12, 1.5]) {
      const refused = await create(
        workload(({ spec }) => {
          spec.replicas = replicas;
        }),
      );
      assert.deepEqual(causes(refused), ['spec.resources[1].spec.replicas'], `replicas ${replicas}`);
    }
  });

  test('invalid names of objects and containers, a container without image, no containers', async () => {
    const badNames = await create(
      workload(({ container }) => {
        container.name = 'Web_1';
      }),
    );
    assert.deepEqual(causes(badNames), [`${CONTAINER}.name`]);
    const noImage = await create(
      workload(({ container }) => {
        delete container.image;
      }),
    );
    assert.deepEqual(causes(noImage), [`${CONTAINER}.image`]);
    const noContainers = await create(
      workload(({ spec }) => {
        spec.template.spec.containers = [];
      }),
    );
    assert.deepEqual(causes(noContainers), ['spec.resources[1].spec.template.spec.containers']);
    const body = workload(() => {});
    body.spec.resources[0]!.metadata.name = 'Not A Name';
    (body.spec.resources[0] as { data: object }).data = { 'a/b': 'x' };
    assert.deepEqual(causes(await create(body)).sort(), [
      'spec.resources[0].data[a/b]',
      'spec.resources[0].metadata.name',
    ]);
  });

  test('required fields, wrong types deeper down, a wrong apiVersion', async () => {
    const noSelector = await create(
      workload(({ spec }) => {
        delete spec.selector;
      }),
    );
    assert.deepEqual(causes(noSelector), ['spec.resources[1].spec.selector']);
    const types = await create(
      workload(({ container }) => {
        container.ports = [{ containerPort: '80' }];
        container.env = { NAME: 'x' };
        container.resources = { limits: { cpu: 1, memory: '64Mi' }, requests: { cpu: 'lots' } };
      }),
    );
    assert.deepEqual(causes(types).sort(), [
      `${CONTAINER}.env`,
      `${CONTAINER}.ports[0].containerPort`,
      `${CONTAINER}.resources.requests[cpu]`,
    ]);
    const body = workload(() => {});
    body.spec.resources[1]!.apiVersion = 'extensions/v1beta1';
    assert.deepEqual(causes(await create(body)), ['spec.resources[1].apiVersion']);
  });

  test('a valid object passes, device parameters in names and keys included', async () => {
    const body = workload(({ container }) => {
      container.name = 'web';
      container.env = [{ name: 'SITE', value: '${device.labels.site}' }];
      container.resources = { limits: { cpu: 1, memory: '64Mi' } };
    });
    body.spec.resources[0]!.metadata.name = 'cfg-${device.name}';
    (body.spec.resources[0] as { data: object }).data = { '${device.labels.site}.conf': 'x' };
    const created = await create(body, 'Strict');
    assert.equal(created.status, 201, created.text);
  });
});
