// Per-file databases cloned from the migrated template, and small helpers around them.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { inject } from 'vitest';
import { qualifyQueries } from './schema.js';
import { databaseUrl, TEMPLATE_DATABASE } from './urls.js';

export interface TestDatabase {
  url: string;
  name: string;
  /** A pool connected as the server's superuser (the schema owner's peer). */
  pool: pg.Pool;
  drop(): Promise<void>;
}

export function adminUrl(): string {
  return inject('adminUrl');
}

async function adminQuery(sql: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    await admin.query(sql);
  } finally {
    await admin.end();
  }
}

/** A new database; migrated (a clone of the template) unless `empty`. */
export async function createTestDatabase(options: { empty?: boolean } = {}): Promise<TestDatabase> {
  const name = `authdb_test_${randomBytes(6).toString('hex')}`;
  await adminQuery(options.empty ? `CREATE DATABASE ${name}` : `CREATE DATABASE ${name} TEMPLATE ${TEMPLATE_DATABASE}`);
  const url = databaseUrl(adminUrl(), name);
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  // DROP DATABASE … WITH (FORCE) ends connections a test still holds; that is expected, not a failure.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => qualifyQueries(client).on('error', () => undefined));
  return {
    url,
    name,
    pool,
    drop: async () => {
      await pool.end();
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

/** Drops roles a test created (they are cluster-wide, so they outlive the test's database). */
export async function dropRoles(...roles: string[]): Promise<void> {
  await adminQuery(roles.map((role) => `DROP ROLE IF EXISTS ${role}`).join('; '));
}

/** Runs `fn` inside a transaction that is always rolled back. */
export async function inRolledBackTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return withPoolClient(pool, async (client) => {
    try {
      await client.query('BEGIN');
      return await fn(client);
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
    }
  });
}

/** Runs `work` on a client checked out of `pool`, and releases it. */
export async function withPoolClient<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    return await work(client);
  } finally {
    client.release();
  }
}

/**
 * Runs `fn` on a pooled connection and hands it back clean: any open transaction rolled back, the
 * role reset and a session-scoped identity ended, so the next test never inherits one.
 */
export async function withCleanConnection<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return withPoolClient(pool, async (client) => {
    try {
      return await fn(client);
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
      await client.query('RESET ROLE; SELECT auth.reset()').catch(() => undefined);
    }
  });
}

/** The SQLSTATE and message of the error `promise` rejects with; fails when it resolves. */
export async function pgError(promise: Promise<unknown>): Promise<{ code: string; message: string; detail?: string; hint?: string }> {
  try {
    await promise;
  } catch (error) {
    const e = error as pg.DatabaseError;
    return { code: e.code ?? '', message: e.message, detail: e.detail, hint: e.hint };
  }
  throw new Error('expected the query to fail, but it succeeded');
}

/** Installs a test-only SQL file of test/support/sql (helpers the shipped function set leaves out). */
export async function installTestSql(pool: pg.Pool, file: string): Promise<void> {
  await pool.query(readFileSync(new URL(`./sql/${file}`, import.meta.url), 'utf8'));
}
