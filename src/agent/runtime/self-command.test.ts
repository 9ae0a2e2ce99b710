import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveOutpost, selfCommand } from './self-command.ts';

describe('the outpost command on the process runtime', () => {
  it('is this node executable running the agent’s script, without debugger or test-runner options', () => {
    const command = selfCommand();
    assert.equal(command[0], process.execPath);
    assert.equal(command.at(-1), process.argv[1]);
    assert.ok(!command.some((arg) => arg.startsWith('--test') || arg.startsWith('--inspect')));
  });

  it('replaces only a leading `outpost`', () => {
    const self = ['/usr/bin/node', '--import', 'tsx', '/opt/outpost/bin/outpost.js'];
    assert.deepEqual(resolveOutpost(['outpost', 'opcua-connector', '--config', 'c.yaml'], self), [
      ...self,
      'opcua-connector',
      '--config',
      'c.yaml',
    ]);
    assert.deepEqual(resolveOutpost(['sh', '-c', 'outpost'], self), ['sh', '-c', 'outpost']);
    assert.deepEqual(resolveOutpost(['/usr/local/bin/outpost'], self), ['/usr/local/bin/outpost']);
  });
});
