import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import type { MailboxObject } from '../../../api/index.ts';
import { desiredStateOf } from '../../reconcile/index.ts';
import { renderKubePlay } from './kube.ts';

const pod: MailboxObject = {
  source: { namespace: 'plant', workload: 'line-1', placement: 'line-1' },
  hash: 'sha256:pod',
  object: {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'connector', namespace: 'plant' },
    spec: {
      hostNetwork: true,
      containers: [
        { name: 'a', image: 'localhost/x:1', env: [{ name: 'OUTPOST_DEVICE', value: 'mine' }] },
        { name: 'b', image: 'localhost/x:1' },
      ],
    },
  } as MailboxObject['object'],
};

describe('podman kube YAML and the agent environment', () => {
  it('gives every container OUTPOST_MQTT_URL and OUTPOST_DEVICE outside the unit hash, the container’s own env winning', () => {
    const unit = desiredStateOf([pod]).units[0]!;
    const agentEnv = { OUTPOST_MQTT_URL: 'mqtt://127.0.0.1:41883', OUTPOST_DEVICE: 'gw-1' };
    const withEnv = renderKubePlay(unit, 'owner', '/tmp/volumes', agentEnv);
    const without = renderKubePlay(unit, 'owner', '/tmp/volumes');
    const spec = parseAllDocuments(withEnv.yaml)[0]!.toJS().spec as {
      containers: { name: string; env: { name: string; value: string }[] }[];
    };
    const envOf = (name: string) =>
      Object.fromEntries(spec.containers.find((c) => c.name === name)!.env.map((e) => [e.name, e.value]));
    assert.deepEqual(envOf('a'), { OUTPOST_MQTT_URL: 'mqtt://127.0.0.1:41883', OUTPOST_DEVICE: 'mine' });
    assert.deepEqual(envOf('b'), agentEnv);
    const labels = (yaml: string) => parseAllDocuments(yaml)[0]!.toJS().metadata.labels;
    assert.deepEqual(
      labels(withEnv.yaml),
      labels(without.yaml),
      'same labels, same hash: adoption still matches',
    );
  });
});
