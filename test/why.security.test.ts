// `authdb why` under attack (docs/security.md §13). The table owner writes the policies and the
// functions they call; the DBA runs `why` as a superuser. Nothing the owner wrote may run with the
// DBA's rights, leave anything behind, or let anyone else make an identity without a token.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WhyReport } from '../src/why/index.js';
import { authdb, jsonOutput } from './support/cli.js';
import { createTestDatabase, dropRoles, inRolledBackTransaction, type TestDatabase } from './support/db.js';
import { TestIssuer } from './support/tokens.js';

let db: TestDatabase;
const OWNER = `why_attacker_${randomBytes(4).toString('hex')}`;
const MEMBER = `why_member_${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  db = await createTestDatabase();
  await TestIssuer.create(db.pool, 'idp');
  await db.pool.query(`
    CREATE ROLE ${OWNER} NOLOGIN;
    CREATE ROLE ${MEMBER} NOLOGIN IN ROLE authenticated;
    CREATE SCHEMA trap AUTHORIZATION ${OWNER};
    GRANT USAGE ON SCHEMA trap TO authenticated;
    CREATE TABLE trap.pwned (what text, who text);
    GRANT INSERT ON trap.pwned TO authenticated;

    -- runs as whoever evaluates the policy: tries to become the superuser session user again
    CREATE FUNCTION trap.escalate() RETURNS boolean LANGUAGE plpgsql AS $$
    BEGIN
      RESET ROLE;
      EXECUTE format('ALTER ROLE %I SUPERUSER', '${OWNER}');
      INSERT INTO trap.pwned VALUES ('escalated', current_user);
      RETURN true;
    END $$;
    -- turns the evaluating function into SECURITY INVOKER, hoping the next policy runs as the caller
    CREATE FUNCTION trap.flip() RETURNS boolean LANGUAGE plpgsql AS $$
    BEGIN
      EXECUTE 'ALTER FUNCTION pg_temp.authdb_why_count(pg_catalog.text) SECURITY INVOKER';
      RETURN true;
    END $$;
    -- writes, and changes the session's search_path for whatever the admin runs next
    CREATE FUNCTION trap.write() RETURNS boolean LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO trap.pwned VALUES ('wrote', current_user);
      PERFORM set_config('search_path', 'trap, pg_catalog', false);
      RETURN true;
    END $$;
    CREATE FUNCTION trap.whoami() RETURNS boolean LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'evaluated as % (session %)', current_user, session_user;
    END $$;
    -- a domain whose CHECK calls the owner's code: reading the row must not run it as the admin
    CREATE FUNCTION trap.check_id(int) RETURNS boolean LANGUAGE plpgsql AS $$
    BEGIN
      EXECUTE format('ALTER ROLE %I SUPERUSER', '${OWNER}');
      RETURN true;
    EXCEPTION WHEN insufficient_privilege THEN
      RETURN true;
    END $$;
    CREATE DOMAIN trap.id AS int;

    CREATE TABLE trap.t (id trap.id PRIMARY KEY, user_id text);
    INSERT INTO trap.t VALUES (1, 'alice');
    -- NOT VALID: the existing row is not checked now (that would run the check as the test's superuser)
    ALTER DOMAIN trap.id ADD CONSTRAINT id_check CHECK (trap.check_id(VALUE)) NOT VALID;
    ALTER TABLE trap.t ENABLE ROW LEVEL SECURITY;
    CREATE POLICY a_flip ON trap.t FOR SELECT TO authenticated USING (trap.flip());
    CREATE POLICY b_escalate ON trap.t FOR SELECT TO authenticated USING (trap.escalate());
    CREATE POLICY c_write ON trap.t FOR SELECT TO authenticated USING (trap.write());
    CREATE POLICY d_whoami ON trap.t FOR SELECT TO authenticated USING (trap.whoami());
    GRANT SELECT ON trap.t TO authenticated;
    ALTER TABLE trap.t OWNER TO ${OWNER};
    ALTER FUNCTION trap.escalate() OWNER TO ${OWNER};
    ALTER FUNCTION trap.flip() OWNER TO ${OWNER};
    ALTER FUNCTION trap.write() OWNER TO ${OWNER};
    ALTER FUNCTION trap.whoami() OWNER TO ${OWNER};
    ALTER FUNCTION trap.check_id(int) OWNER TO ${OWNER};
  `);
});
afterAll(async () => {
  await db?.drop();
  await dropRoles(OWNER, MEMBER);
});

const isSuperuser = async () => (await db.pool.query('SELECT rolsuper FROM pg_roles WHERE rolname = $1', [OWNER])).rows[0].rolsuper as boolean;

describe('authdb why run by a superuser on a hostile owner\'s policies', () => {
  for (const key of [[], ['--key', '1']]) {
    it(`runs them as authenticated, undoes what they did, and escalates nothing ${key.join(' ')}`, async () => {
      const result = await authdb(['why', '--database-url', db.url, '--json', '--as', 'alice', 'trap.t', ...key]);
      expect(result.code, result.stderr).toBe(0);
      const policies = jsonOutput<WhyReport>(result).commands.find((c) => c.command === 'select')!.clauses[0]!.policies;
      const byName = Object.fromEntries(policies.map((p) => [p.name, p]));
      // inside the evaluating SECURITY DEFINER function Postgres refuses RESET ROLE
      expect(byName.b_escalate!.error).toMatch(/cannot set parameter "role" within security-definer function/);
      expect(byName.d_whoami!.error).toMatch(/^evaluated as authenticated \(session /);
      // the flip was undone before the next policy ran, and the write was rolled back
      expect(byName.a_flip!.admitted).toBe(1);
      expect(byName.c_write!.admitted).toBe(1);
      expect(await isSuperuser()).toBe(false);
      expect((await db.pool.query('SELECT count(*)::int AS n FROM trap.pwned')).rows[0].n).toBe(0);
    });
  }

  it('the human output shows the refused escalation, and nothing escalated', async () => {
    const result = await authdb(['why', '--database-url', db.url, '--as', 'alice', 'trap.t']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/raised: cannot set parameter "role" within security-definer function/);
    expect(await isSuperuser()).toBe(false);
  });
});

describe('auth._impersonate: the owner-only identity path', () => {
  for (const role of ['authenticated', 'anonymous', MEMBER]) {
    it(`${role} cannot call it`, async () => {
      await inRolledBackTransaction(db.pool, async (client) => {
        await client.query(`SET LOCAL ROLE ${role}`);
        await expect(client.query(`SELECT auth._impersonate(NULL, '{"sub":"admin"}')`)).rejects.toMatchObject({ code: '42501' });
      });
    });
  }

  it('granted EXECUTE by mistake, it still cannot seal anything (SECURITY INVOKER)', async () => {
    await inRolledBackTransaction(db.pool, async (client) => {
      await client.query('GRANT EXECUTE ON FUNCTION auth._impersonate(text, jsonb) TO authenticated');
      await client.query('SET LOCAL ROLE authenticated');
      await client.query('SAVEPOINT attempt');
      await expect(client.query(`SELECT auth._impersonate('idp', '{"sub":"admin"}')`)).rejects.toMatchObject({ code: '42501' });
      await client.query('ROLLBACK TO SAVEPOINT attempt');
      expect((await client.query('SELECT auth.user_id() AS id')).rows[0].id).toBeNull();
    });
  });

  it('the owner gets a transaction identity that ends with the transaction and replays nowhere', async () => {
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SELECT auth._impersonate('idp', '{"sub":"alice","roles":["editor"]}')`);
      await client.query('SET LOCAL ROLE authenticated');
      const row = (await client.query(`SELECT auth.user_id() AS id, auth.has_claim('roles', 'editor') AS editor, current_setting('authdb.identity') AS value`)).rows[0];
      expect(row).toMatchObject({ id: 'alice', editor: true });
      await client.query('ROLLBACK');
      expect((await client.query('SELECT auth.user_id() AS id')).rows[0].id).toBeNull();
      // the value, copied into a later transaction, does not pass its seal
      await client.query('BEGIN');
      await client.query('SET LOCAL ROLE authenticated');
      await client.query("SELECT set_config('authdb.identity', $1, true)", [row.value]);
      await expect(client.query('SELECT auth.user_id()')).rejects.toMatchObject({ code: '28000' });
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
  });

  it('refuses claims without a string sub', async () => {
    await expect(db.pool.query(`SELECT auth._impersonate('idp', '{"sub":42}')`)).rejects.toMatchObject({ code: '22023' });
    await expect(db.pool.query(`SELECT auth._impersonate('idp', '{}')`)).rejects.toMatchObject({ code: '22023' });
  });
});
