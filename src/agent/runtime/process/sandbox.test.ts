import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sandboxedArgv } from './sandbox.ts';

/** The bubblewrap command line: what a container's view holds and hides. */
describe('sandbox view', () => {
  const settings = {
    bwrap: true,
    switchUser: false,
    // The agent run from a checkout that also holds its data dir and the upload folders (as `npm start` does).
    programPaths: ['/srv/outpost'],
    hidden: ['/srv/outpost/.outpost/agent'],
    concealed: ['/srv/outpost/.outpost/agent.uploads'],
  };
  const command = {
    argv: ['sh', '-c', 'true'],
    cwd: '/srv/outpost/.outpost/agent.workloads/u1',
    binds: [
      {
        source: '/srv/outpost/.outpost/agent.uploads/team-a/logger/out',
        target: '/data/out',
        readOnly: false,
        volume: 'out',
      },
    ],
    runAs: { uid: 1000, gid: 1000 },
  };

  it("hides the data dir and every workload's upload folder, then binds the unit its own", () => {
    const argv = sandboxedArgv(command, settings).join(' ');
    const program = argv.indexOf('--ro-bind-try /srv/outpost /srv/outpost');
    const data = argv.indexOf('--tmpfs /srv/outpost/.outpost/agent ');
    const uploads = argv.indexOf('--tmpfs /srv/outpost/.outpost/agent.uploads');
    const own = argv.indexOf('--bind /srv/outpost/.outpost/agent.uploads/team-a/logger/out /data/out');
    assert.ok(program >= 0 && data > program && uploads > program, argv);
    assert.ok(own > uploads, argv);
  });
});
