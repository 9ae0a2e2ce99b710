import { after, before } from 'node:test';
import pg from 'pg';
import { type PostgresCluster, startPostgres } from '../../test/support/index.ts';
import { describeStoreConformance } from './conformance.ts';
import { PostgresStore, type PostgresStoreOptions } from './postgres.ts';

let cluster: PostgresCluster;
let admin: pg.Client;
let schemas = 0;

before(async () => {
  cluster = await startPostgres();
  admin = new pg.Client({ connectionString: cluster.url });
  await admin.connect();
});

after(async () => {
  await admin?.end();
  await cluster?.stop();
});

/** A fresh store in its own schema of the shared throw-away cluster; `cleanup` drops the schema. */
async function openPostgres(options: Partial<PostgresStoreOptions> = {}) {
  const schema = `conformance_${++schemas}`;
  const open = () => PostgresStore.open({ url: cluster.url, schema, ...options });
  let store = await open();
  return {
    schema,
    get store() {
      return store;
    },
    async reopen() {
      await store.close();
      store = await open();
      return store;
    },
    async cleanup() {
      await store.close();
      await admin.query(`DROP SCHEMA "${schema}" CASCADE`);
    },
  };
}

describeStoreConformance('PostgreSQL', () => openPostgres());
