import { execFile } from 'node:child_process';
import { startPostgres } from './test/support/postgres.ts';
import { loadOrCreateEncryptionKeys } from './src/store/index.ts';
import { mkdtemp, rm } from 'node:fs/promises';
const run = (args: string[]) => new Promise<string>((resolve) => execFile(process.execPath, ['--import', 'tsx', './.tmp-replicas-one.mts', ...args], (e, out, err) => resolve(out + err)));
for (let round = 0; round < 5; round++) {
  const pg = await startPostgres();
  const url = await pg.createDatabase('outpost');
  const dir = await mkdtemp('/tmp/three-');
  await loadOrCreateEncryptionKeys(`${dir}/key`);
  const outs = await Promise.all([0, 1, 2].map((i) => run([`${dir}/r${i}`, url, `${dir}/key`])));
  console.log('round', round, outs.map((o) => o.startsWith('OK') ? 'OK' : o).join('\n'));
  await pg.stop();
  await rm(dir, { recursive: true, force: true });
}
