/**
 * kubectl apply of Workloads whose objects a Kubernetes apiserver would refuse: the error names
 * the field below `spec.resources[i]`, for an unknown field (kubectl validates strictly by
 * default) and for an invalid value; `--validate=false` drops the unknown field, as for any kind.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  type KubectlHub,
  type Manifest,
  namespace,
  startKubectlHub,
  workload,
  yamlOf,
} from '../support/index.ts';

const NS = 'validated';

/** The test support's Workload of one Deployment, with `change` applied to the Deployment. */
function changed(name: string, change: (deployment: DeploymentShape) => void): Manifest {
  const manifest = workload(NS, name);
  change((manifest.spec as { resources: DeploymentShape[] }).resources[0]!);
  return manifest;
}

interface DeploymentShape {
  spec: { replicas: unknown; template: { spec: { containers: Array<Record<string, unknown>> } } };
}

describe('kubectl apply of a Workload holding objects Kubernetes would refuse', () => {
  let k: KubectlHub;

  before(async () => {
    k = await startKubectlHub();
    await k.ok(['apply', '-f', '-'], yamlOf(namespace(NS)));
  });
  after(async () => {
    await k?.stop();
  });

  it('shows the path of a misspelt field (`imagee`) and writes nothing', async () => {
    const misspelt = changed('misspelt', (deployment) => {
      const container = deployment.spec.template.spec.containers[0]!;
      container.imagee = container.image;
      delete container.image;
    });
    const stderr = await k.fails(['apply', '-f', '-'], yamlOf(misspelt));
    assert.match(
      stderr,
      /unknown field "spec\.resources\[0\]\.spec\.template\.spec\.containers\[0\]\.imagee"/,
    );
    const get = await k.run(['get', 'workload', 'misspelt', '-n', NS]);
    assert.notEqual(get.code, 0, 'nothing was written');
  });

  it('shows the path of an invalid value', async () => {
    const negative = changed('negative', (deployment) => {
      deployment.spec.replicas = -1;
    });
    const stderr = await k.fails(['apply', '-f', '-'], yamlOf(negative));
    assert.match(stderr, /spec\.resources\[0\]\.spec\.replicas: Invalid value: -1/);
    const text = changed('text', (deployment) => {
      deployment.spec.replicas = '3';
    });
    assert.match(
      await k.fails(['apply', '-f', '-'], yamlOf(text)),
      /spec\.resources\[0\]\.spec\.replicas: Invalid value: "3": must be of type integer/,
    );
  });

  it('drops an unknown field with --validate=false, as for any kind', async () => {
    const extra = changed('extra', (deployment) => {
      deployment.spec.template.spec.containers[0]!.comand = ['sh'];
    });
    await k.ok(['apply', '--validate=false', '-f', '-'], yamlOf(extra));
    const stored = JSON.parse(await k.ok(['get', 'workload', 'extra', '-n', NS, '-o', 'json']));
    const container = stored.spec.resources[0].spec.template.spec.containers[0];
    assert.equal(container.comand, undefined);
    assert.equal(container.image, 'nginx:1.27');
  });
});
