// `authdb migrate`: installs, is a no-op when up to date, serializes concurrent runs, and rolls back.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ledgerName, migrateDown, migrateStatus, migrateUp } from '../src/migrate.js';
import { migrationFiles, packageVersion } from '../src/sources.js';
import { authCatalog } from './support/catalog.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { TEST_SCHEMA } from './support/schema.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase({ empty: true });
});
afterAll(async () => db?.drop());

async function withFreshClient<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

describe('authdb migrate', () => {
  it('three runs started at once all succeed and leave one consistent schema', async () => {
    const results = await Promise.all([1, 2, 3].map(() => withFreshClient((client) => migrateUp(client, { schema: TEST_SCHEMA }))));
    const applied = results.map((result) => result.migrations.length);
    expect(applied.filter((count) => count === migrationFiles().length)).toHaveLength(1);
    expect(applied.filter((count) => count === 0)).toHaveLength(2);
    expect(results.filter((result) => result.functionsUpdated)).toHaveLength(1);
    const status = await withFreshClient(migrateStatus);
    expect(status.pending).toEqual([]);
    expect(status.functionsCurrent).toBe(true);
    expect(status.installedVersion).toBe(packageVersion());
    const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM ${ledgerName(TEST_SCHEMA)}`);
    expect(rows[0].n).toBe(migrationFiles().length);
  });

  it('running it again is a no-op', async () => {
    const before = await authCatalog(db.pool);
    const result = await withFreshClient((client) => migrateUp(client, { schema: TEST_SCHEMA }));
    expect(result).toMatchObject({ migrations: [], functionsUpdated: false });
    expect(await authCatalog(db.pool)).toEqual(before);
  });

  it('down then up again gives the same catalog (the roles stay)', async () => {
    const installed = await authCatalog(db.pool);
    const down = await withFreshClient((client) => migrateDown(client, migrationFiles().length));
    expect(down.migrations).toHaveLength(migrationFiles().length);
    const gone = await db.pool.query(`SELECT to_regnamespace('${TEST_SCHEMA}') AS schema, (SELECT count(*)::int FROM pg_roles WHERE rolname IN ('authenticated', 'anonymous')) AS roles`);
    expect(gone.rows[0]).toEqual({ schema: null, roles: 2 });
    const status = await withFreshClient(migrateStatus);
    expect(status.installedVersion).toBeNull();
    expect(status.pending).toHaveLength(migrationFiles().length);
    await withFreshClient((client) => migrateUp(client, { schema: TEST_SCHEMA }));
    expect(await authCatalog(db.pool)).toEqual(installed);
  });
});
