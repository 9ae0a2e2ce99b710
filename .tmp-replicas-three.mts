import { startPostgres } from './test/support/postgres.ts';
import { startReplicaSet } from './test/e2e/replicas/cluster.ts';
for (let round = 0; round < 4; round++) {
  try {
    const set = await startReplicaSet();
    console.log('round', round, 'ok');
    await set.stop();
  } catch (error) {
    console.log('round', round, 'FAILED', String(error).slice(0, 300));
  }
}
