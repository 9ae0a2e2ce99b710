import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ObjectStatus } from '../api/index.ts';
import { createAgentMetrics } from './metrics.ts';
import type { SourcedStatus } from './reconcile/index.ts';

const status = (name: string, phase: ObjectStatus['phase'], restarts = 0): SourcedStatus => ({
  source: { namespace: 'line-1', workload: 'press', placement: 'lines' },
  status: { ref: { apiVersion: 'v1', kind: 'Pod', name }, phase, restarts },
});

describe('agent metrics', () => {
  it('renders units by phase, restarts per workload, backlogs and policy condition states as Prometheus text', async () => {
    const statuses = [status('a', 'Running', 2), status('b', 'Failed', 5), status('c', 'Running')];
    let outbox = 3;
    const metrics = createAgentMetrics({
      statuses: () => statuses,
      reportOutbox: () => outbox,
      telemetryOutbox: () => ({ messages: 40, bytes: 4096 }),
      profiles: () => [{ name: 'power', conditions: [{ name: 'powered', state: 'True' }] }],
    });
    const { contentType, body } = await metrics.render();
    assert.match(contentType, /^text\/plain; version=0\.0\.4/);
    for (const line of [
      'outpost_agent_units{phase="Running"} 2',
      'outpost_agent_units{phase="Failed"} 1',
      'outpost_agent_units{phase="Pending"} 0',
      'outpost_agent_unit_restarts{workload="line-1/press"} 7',
      'outpost_agent_report_outbox_entries 3',
      'outpost_agent_telemetry_outbox_messages 40',
      'outpost_agent_telemetry_outbox_bytes 4096',
      'outpost_agent_policy_condition{profile="power",condition="powered",state="True"} 1',
      'outpost_agent_policy_condition{profile="power",condition="powered",state="False"} 0',
    ])
      assert.ok(body.split('\n').includes(line), `missing ${line} in\n${body}`);
    assert.match(body, /^process_resident_memory_bytes \d+$/m);
    // Read again at every scrape, not kept from the first.
    outbox = 0;
    statuses.pop();
    const again = (await metrics.render()).body.split('\n');
    assert.ok(again.includes('outpost_agent_report_outbox_entries 0'));
    assert.ok(again.includes('outpost_agent_units{phase="Running"} 1'));
  });
});
