// Security model §1–§4: the auth roles cannot read or change keys, providers or the sealing secret,
// cannot create objects in auth, cannot call internals; every SECURITY DEFINER function pins search_path.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, inRolledBackTransaction, pgError, type TestDatabase } from './support/db.js';
import { packageVersion } from '../src/sources.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => db?.drop());

const ROLES = ['authenticated', 'anonymous'] as const;

describe.each(ROLES)('as %s', (role) => {
  it('cannot read or write any auth table', async () => {
    const { rows } = await db.pool.query<{ name: string }>(
      `SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables WHERE schemaname = 'auth'`,
    );
    expect(rows.map((r) => r.name)).toEqual(expect.arrayContaining(['auth.keys', 'auth.providers', 'auth.seal_secret']));
    for (const { name } of rows) {
      for (const statement of [`SELECT * FROM ${name}`, `DELETE FROM ${name}`]) {
        const error = await inRolledBackTransaction(db.pool, async (client) => {
          await client.query(`SET LOCAL ROLE ${role}`);
          return pgError(client.query(statement));
        });
        expect(error.code, `${statement}`).toBe('42501');
      }
    }
  });

  it('cannot create objects in auth', async () => {
    for (const statement of [
      'CREATE TABLE auth.evil (x int)',
      "CREATE FUNCTION auth.user_id(x int) RETURNS text LANGUAGE sql AS 'SELECT 1'",
      'CREATE VIEW auth.v AS SELECT 1',
    ]) {
      const error = await inRolledBackTransaction(db.pool, async (client) => {
        await client.query(`SET LOCAL ROLE ${role}`);
        return pgError(client.query(statement));
      });
      expect(error.code, statement).toBe('42501');
    }
  });

  it('cannot call internal functions (sealing, key registration and rotation)', async () => {
    for (const statement of [
      `SELECT auth._seal('identity', 'x')`,
      `SELECT auth.add_provider('x', 'https://x')`,
      `SELECT auth.revoke_key('k')`,
      `SELECT auth.apply_jwks('x', '{"keys": []}')`,
      `SELECT auth.remove_provider('x')`,
      `SELECT auth._vcache_put('\\x00'::bytea, 1, NULL, 0)`,
      `SELECT auth._identity_set('t', 'x', NULL, 1, '', '{"sub":"mallory"}')`,
    ]) {
      const error = await inRolledBackTransaction(db.pool, async (client) => {
        await client.query(`SET LOCAL ROLE ${role}`);
        return pgError(client.query(statement));
      });
      expect(error.code, statement).toBe('42501');
    }
  });

  it('may create temporary tables while PUBLIC keeps TEMPORARY on the database (doctor: auth_role_temp), not after the REVOKE', async () => {
    const { rows } = await db.pool.query<{ db: string }>('SELECT pg_catalog.quote_ident(current_database()) AS db');
    const create = () => inRolledBackTransaction(db.pool, async (client) => {
      await client.query(`SET LOCAL ROLE ${role}`);
      return pgError(client.query('CREATE TEMP TABLE todos (id int)')).catch(() => ({ code: 'created' }));
    });
    expect((await create()).code).toBe('created');
    await db.pool.query(`REVOKE TEMPORARY ON DATABASE ${rows[0]!.db} FROM PUBLIC`);
    try {
      expect((await create()).code).toBe('42501');
    } finally {
      await db.pool.query(`GRANT TEMPORARY ON DATABASE ${rows[0]!.db} TO PUBLIC`);
    }
  });

  it('can call the identity functions', async () => {
    const row = await inRolledBackTransaction(db.pool, async (client) => {
      await client.query(`SET LOCAL ROLE ${role}`);
      return (await client.query('SELECT auth.session() AS s, auth.user_id() AS u, auth.uid() AS i, auth.jwt() AS j, auth.version() AS v')).rows[0];
    });
    expect(row).toEqual({ s: null, u: null, i: null, j: null, v: packageVersion() });
  });
});

describe('catalog', () => {
  it('every SECURITY DEFINER function in auth pins search_path', async () => {
    const { rows } = await db.pool.query<{ name: string; config: string[] | null }>(
      `SELECT p.oid::regprocedure::text AS name, p.proconfig AS config
         FROM pg_proc AS p WHERE p.pronamespace = 'auth'::regnamespace AND p.prosecdef`,
    );
    expect(rows.length).toBeGreaterThanOrEqual(9);
    for (const row of rows) expect(row.config, row.name).toContain('search_path=pg_catalog, pg_temp');
  });

  it('only the public API is executable by PUBLIC', async () => {
    const { rows } = await db.pool.query<{ name: string }>(
      `SELECT p.proname AS name FROM pg_proc AS p
        WHERE p.pronamespace = 'auth'::regnamespace
          AND has_function_privilege('anonymous', p.oid, 'EXECUTE')
        ORDER BY 1`,
    );
    const names = rows.map((r) => r.name);
    for (const name of names) expect(name.startsWith('_'), name).toBe(false);
    expect(names).toEqual(expect.arrayContaining(['init', 'jwt', 'jwt_session_init', 'reset', 'session', 'uid', 'user_id', 'verify', 'version']));
  });

  it('an object the caller puts on its search_path cannot change what auth code runs', async () => {
    const error = await inRolledBackTransaction(db.pool, async (client) => {
      await client.query('CREATE SCHEMA evil');
      await client.query(`CREATE FUNCTION evil.sha256(bytea) RETURNS bytea LANGUAGE sql AS $$ SELECT '\\x00'::bytea $$`);
      await client.query('GRANT USAGE ON SCHEMA evil TO PUBLIC');
      await client.query('SET LOCAL ROLE authenticated');
      await client.query('SET LOCAL search_path = evil, pg_catalog');
      return pgError(client.query('SELECT auth.verify($1)', ['eyJhbGciOiJIUzI1NiJ9.e30.AAAA']));
    });
    expect(error.message).toMatch(/^jwt rejected: /);
  });
});
