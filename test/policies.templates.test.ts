// The RLS policy templates of sql/functions/85_policies.sql, with real rows and two users.
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inTransaction } from '../src/transaction.js';
import { createTestDatabase, pgError, type TestDatabase, withPoolClient } from './support/db.js';
import { TestIssuer } from './support/tokens.js';
import { qualify } from '../src/schema.js';
import { TEST_SCHEMA } from './support/schema.js';

let db: TestDatabase;
let issuer: TestIssuer;
let alice: string;
let bob: string;

/** Runs one statement as the token's user (anonymous without one), in its own committed transaction. */
async function as(token: string | null, sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
  return withPoolClient(db.pool, (client) => inTransaction(client, async () => {
    await client.query(token ? 'SET LOCAL ROLE authenticated' : 'SET LOCAL ROLE anonymous');
    if (token) await client.query('SELECT auth.init($1)', [token]);
    return client.query(sql, params);
  }));
}

const policiesOf = async (table: string) =>
  (await db.pool.query<{ policyname: string }>('SELECT policyname FROM pg_policies WHERE tablename = $1 ORDER BY 1', [table])).rows.map(
    (row) => row.policyname,
  );

beforeAll(async () => {
  db = await createTestDatabase();
  issuer = await TestIssuer.create(db.pool, 'idp');
  alice = await issuer.hs256({ sub: 'alice', tenant_id: 'acme' });
  bob = await issuer.hs256({ sub: 'bob', tenant_id: 'globex' });
});
afterAll(async () => db?.drop());

describe('auth.policy_owner', () => {
  beforeAll(async () => {
    await db.pool.query(`
      CREATE TABLE notes (id serial PRIMARY KEY, user_id text NOT NULL, body text);
      INSERT INTO notes (user_id, body) VALUES ('alice', 'a1'), ('alice', 'a2'), ('bob', 'b1');
      SELECT auth.policy_owner('notes');`);
  });

  it('shows each user only their own rows, and nothing without an identity', async () => {
    expect((await as(alice, 'SELECT body FROM notes ORDER BY body')).rows.map((r) => r.body)).toEqual(['a1', 'a2']);
    expect((await as(bob, 'SELECT body FROM notes ORDER BY body')).rows.map((r) => r.body)).toEqual(['b1']);
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN; SET LOCAL ROLE authenticated');
      expect((await client.query('SELECT * FROM notes')).rowCount).toBe(0);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
  });

  it('lets a user insert their own rows (serial sequence granted) but never rows for someone else', async () => {
    const inserted = await as(alice, "INSERT INTO notes (user_id, body) VALUES ('alice', 'a3') RETURNING id");
    expect(inserted.rowCount).toBe(1);
    const error = await pgError(as(alice, "INSERT INTO notes (user_id, body) VALUES ('bob', 'planted')"));
    expect(error.code).toBe('42501');
    expect(error.message).toMatch(/row-level security/);
  });

  it('stops a user moving a row into someone else\'s ownership (WITH CHECK), or touching theirs', async () => {
    const error = await pgError(as(alice, "UPDATE notes SET user_id = 'bob' WHERE body = 'a1'"));
    expect(error.code).toBe('42501');
    expect((await as(alice, "UPDATE notes SET body = 'hacked' WHERE body = 'b1'")).rowCount).toBe(0);
    expect((await as(alice, "DELETE FROM notes WHERE body = 'b1'")).rowCount).toBe(0);
    expect((await db.pool.query("SELECT user_id FROM notes WHERE body = 'b1'")).rows).toEqual([{ user_id: 'bob' }]);
    expect((await as(bob, "DELETE FROM notes WHERE body = 'b1'")).rowCount).toBe(1);
  });

  it('evaluates auth.user_id() once per statement (an InitPlan), not once per row', async () => {
    const plan = await as(alice, 'EXPLAIN (COSTS OFF) SELECT * FROM notes');
    const text = plan.rows.map((row) => row['QUERY PLAN']).join('\n');
    expect(text).toMatch(/InitPlan/);
  });

  it('is idempotent, and only returns the SQL when p_execute is false', async () => {
    await db.pool.query("SELECT auth.policy_owner('notes')");
    expect(await policiesOf('notes')).toEqual(['authdb_owner_delete', 'authdb_owner_insert', 'authdb_owner_select', 'authdb_owner_update']);
    await db.pool.query('CREATE TABLE dry (id int, owner_id uuid)');
    const { rows } = await db.pool.query("SELECT auth.policy_owner('dry', 'owner_id', p_execute => false) AS sql");
    expect(rows[0].sql).toContain('ALTER TABLE public.dry ENABLE ROW LEVEL SECURITY;');
    expect(rows[0].sql).toContain(qualify('CREATE POLICY authdb_owner_update ON public.dry AS PERMISSIVE FOR UPDATE TO authenticated USING (owner_id = (select auth.uid())) WITH CHECK (owner_id = (select auth.uid()))', TEST_SCHEMA));
    expect(await policiesOf('dry')).toEqual([]);
    const rls = await db.pool.query("SELECT relrowsecurity FROM pg_class WHERE oid = 'dry'::regclass");
    expect(rls.rows[0].relrowsecurity).toBe(false);
  });

  it('quotes identifiers that callers choose, and rejects bad targets', async () => {
    await db.pool.query('CREATE SCHEMA "My Schema"; CREATE TABLE "My Schema"."odd; DROP TABLE notes; --" ("Owner" text)');
    const { rows } = await db.pool.query(`SELECT auth.policy_owner('"My Schema"."odd; DROP TABLE notes; --"', 'Owner') AS sql`);
    expect(rows[0].sql).toContain('ON "My Schema"."odd; DROP TABLE notes; --"');
    expect(rows[0].sql).toContain(qualify('("Owner" = (select auth.user_id()))', TEST_SCHEMA));
    expect(await policiesOf('odd; DROP TABLE notes; --')).toHaveLength(4);
    expect((await db.pool.query('SELECT count(*)::int AS n FROM notes')).rows[0].n).toBeGreaterThan(0);
    await db.pool.query('CREATE TABLE numbered (user_id int)');
    expect((await pgError(db.pool.query("SELECT auth.policy_owner('numbered')"))).code).toBe('22023');
    expect((await pgError(db.pool.query("SELECT auth.policy_owner('notes', 'nope')"))).code).toBe('42703');
    await db.pool.query('CREATE VIEW notes_view AS SELECT * FROM notes');
    expect((await pgError(db.pool.query("SELECT auth.policy_owner('notes_view')"))).code).toBe('42809');
  });

  it('is an admin function: the auth roles cannot call it', async () => {
    const error = await pgError(as(alice, "SELECT auth.policy_owner('notes')"));
    expect(error.code).toBe('42501');
    expect(error.message).toMatch(/permission denied for function policy_owner/);
  });
});

describe('auth.policy_tenant', () => {
  beforeAll(async () => {
    await db.pool.query(`
      CREATE TABLE projects (id int GENERATED ALWAYS AS IDENTITY, tenant_id text NOT NULL, name text);
      INSERT INTO projects (tenant_id, name) VALUES ('acme', 'rocket'), ('acme', 'anvil'), ('globex', 'dome');
      SELECT auth.policy_tenant('projects');`);
  });

  it('isolates tenants, for reads and writes', async () => {
    expect((await as(alice, 'SELECT name FROM projects ORDER BY name')).rows.map((r) => r.name)).toEqual(['anvil', 'rocket']);
    expect((await as(bob, 'SELECT name FROM projects')).rows.map((r) => r.name)).toEqual(['dome']);
    expect((await pgError(as(alice, "INSERT INTO projects (tenant_id, name) VALUES ('globex', 'trojan')"))).code).toBe('42501');
    expect((await pgError(as(alice, "UPDATE projects SET tenant_id = 'globex' WHERE name = 'anvil'"))).code).toBe('42501');
    expect((await as(bob, "DELETE FROM projects WHERE name = 'rocket'")).rowCount).toBe(0);
    const noTenant = await issuer.hs256({ sub: 'carol' });
    expect((await as(noTenant, 'SELECT * FROM projects')).rowCount).toBe(0);
  });

  it('casts the claim to a typed column, failing the statement when it does not fit', async () => {
    await db.pool.query(`
      CREATE TABLE accounts (tenant_id uuid, name text);
      INSERT INTO accounts VALUES ('6f1c9a8e-0000-4000-8000-000000000001', 'one'), ('6f1c9a8e-0000-4000-8000-000000000002', 'two');
      SELECT auth.policy_tenant('accounts', 'tenant_id', 'org');`);
    const member = await issuer.hs256({ sub: 'dave', org: '6f1c9a8e-0000-4000-8000-000000000002' });
    expect((await as(member, 'SELECT name FROM accounts')).rows).toEqual([{ name: 'two' }]);
    const garbage = await issuer.hs256({ sub: 'eve', org: "x' OR true --" });
    expect((await pgError(as(garbage, 'SELECT name FROM accounts'))).code).toBe('22P02');
  });
});

describe('auth.policy_claim', () => {
  beforeAll(async () => {
    await db.pool.query(`
      CREATE TABLE audit_log (id int, entry text);
      INSERT INTO audit_log VALUES (1, 'login'), (2, 'logout');
      SELECT auth.policy_claim('audit_log', 'roles', 'admin', ARRAY['select']);`);
  });

  it('opens rows to users whose claim holds the value, as an array member or the value itself', async () => {
    const admin = await issuer.hs256({ sub: 'root', roles: ['user', 'admin'] });
    const adminString = await issuer.hs256({ sub: 'root2', roles: 'admin' });
    const user = await issuer.hs256({ sub: 'joe', roles: ['user'] });
    const objectClaim = await issuer.hs256({ sub: 'obj', roles: { admin: true } });
    expect((await as(admin, 'SELECT * FROM audit_log')).rowCount).toBe(2);
    expect((await as(adminString, 'SELECT * FROM audit_log')).rowCount).toBe(2);
    expect((await as(user, 'SELECT * FROM audit_log')).rowCount).toBe(0);
    expect((await as(objectClaim, 'SELECT * FROM audit_log')).rowCount).toBe(0);
    expect((await as(alice, 'SELECT * FROM audit_log')).rowCount).toBe(0);
    // only SELECT was asked for: no write privilege was granted
    expect((await pgError(as(admin, "INSERT INTO audit_log VALUES (3, 'x')"))).code).toBe('42501');
  });

  it('as restrictive, narrows another template: owner rows, and only with the permission', async () => {
    await db.pool.query(`
      CREATE TABLE invoices (user_id text, amount int);
      INSERT INTO invoices VALUES ('alice', 10), ('bob', 20);
      SELECT auth.policy_owner('invoices');
      SELECT auth.policy_claim('invoices', 'permissions', 'invoices:read', ARRAY['select'], 'restrictive');`);
    const allowed = await issuer.hs256({ sub: 'alice', permissions: ['invoices:read'] });
    expect((await as(allowed, 'SELECT amount FROM invoices')).rows).toEqual([{ amount: 10 }]);
    expect((await as(alice, 'SELECT amount FROM invoices')).rowCount).toBe(0);
    const policies = await db.pool.query("SELECT permissive FROM pg_policies WHERE tablename = 'invoices' AND policyname LIKE 'authdb_claim%'");
    expect(policies.rows).toEqual([{ permissive: 'RESTRICTIVE' }]);
  });

  it('re-running with other commands replaces the earlier policies', async () => {
    await db.pool.query("SELECT auth.policy_claim('audit_log', 'roles', 'admin', ARRAY['select', 'delete'])");
    await db.pool.query("SELECT auth.policy_claim('audit_log', 'roles', 'admin', ARRAY['delete'])");
    const names = await policiesOf('audit_log');
    expect(names).toHaveLength(1);
    expect(names[0]).toMatch(/^authdb_claim_roles_admin_[0-9a-f]{6}_delete$/);
    expect((await pgError(db.pool.query("SELECT auth.policy_claim('audit_log', 'roles', 'admin', ARRAY['truncate'])"))).code).toBe('22023');
  });
});

describe('auth.policy_public_read', () => {
  beforeAll(async () => {
    await db.pool.query(`
      CREATE TABLE posts (id bigserial, user_id text NOT NULL, body text);
      INSERT INTO posts (user_id, body) VALUES ('alice', 'hello'), ('bob', 'hi');
      SELECT auth.policy_public_read('posts');`);
  });

  it('lets everyone read, anonymous included, and only owners write', async () => {
    expect((await as(null, 'SELECT * FROM posts')).rowCount).toBe(2);
    expect((await as(alice, 'SELECT * FROM posts')).rowCount).toBe(2);
    expect((await pgError(as(null, "INSERT INTO posts (user_id, body) VALUES ('alice', 'spam')"))).code).toBe('42501');
    expect((await as(alice, "INSERT INTO posts (user_id, body) VALUES ('alice', 'again')")).rowCount).toBe(1);
    expect((await pgError(as(alice, "INSERT INTO posts (user_id, body) VALUES ('bob', 'forged')"))).code).toBe('42501');
    expect((await pgError(as(alice, "UPDATE posts SET user_id = 'bob' WHERE body = 'hello'"))).code).toBe('42501');
    expect((await as(alice, "UPDATE posts SET body = 'defaced' WHERE user_id = 'bob'")).rowCount).toBe(0);
    expect((await as(bob, "DELETE FROM posts WHERE user_id = 'alice'")).rowCount).toBe(0);
    expect((await as(null, 'SELECT * FROM posts')).rowCount).toBe(3);
  });
});
