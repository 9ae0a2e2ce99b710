import pino from 'pino';
import { startHub } from './src/hub/index.ts';
import { startPostgres } from './test/support/postgres.ts';
import { loadOrCreateEncryptionKeys } from './src/store/index.ts';
import { mkdtemp, rm } from 'node:fs/promises';
for (let round = 0; round < 4; round++) {
  const pg = await startPostgres();
  const url = await pg.createDatabase('outpost');
  const dir = await mkdtemp('/tmp/three-');
  await loadOrCreateEncryptionKeys(`${dir}/key`);
  const logger = pino({ level: 'error' });
  const results = await Promise.allSettled([0, 1, 2].map((i) => startHub({ dataDir: `${dir}/r${i}`, port: 0, store: url, version: 't', logger, encryptionKeyFile: `${dir}/key` })));
  for (const r of results) if (r.status === 'rejected') console.log('REJECTED', (r.reason as Error).stack?.split('\n').slice(0, 30).join('\n'));
  console.log('round', round, results.map((r) => r.status).join(','));
  for (const r of results) if (r.status === 'fulfilled') await r.value.close();
  await pg.stop();
  await rm(dir, { recursive: true, force: true });
}
