// Compatibility: policies written with Drizzle's Neon RLS helpers (crudPolicy, authUid,
// authenticatedRole from drizzle-orm/neon), and SQL written for pg_session_jwt, run unchanged.
import { asc } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { authenticatedRole, authUid, crudPolicy } from 'drizzle-orm/neon';
import { bigint, getTableConfig, PgDialect, PgRole, pgTable, text, type PgPolicy, type PgTable } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withAuth } from '../src/index.js';
import { perRowAuthCalls } from '../src/doctor.js';
import { createTestDatabase, pgError, type TestDatabase } from './support/db.js';
import { TestIssuer } from './support/tokens.js';

const todos = pgTable(
  'todos',
  {
    id: bigint('id', { mode: 'number' }).generatedAlwaysAsIdentity().primaryKey(),
    userId: text('user_id').notNull(),
    title: text('title').notNull(),
  },
  (t) => [crudPolicy({ role: authenticatedRole, read: authUid(t.userId), modify: authUid(t.userId) })],
);

/**
 * The statements drizzle-kit generates for a table's policies (its `CREATE POLICY` template:
 * quoted names, AS/FOR upper-cased, the SQL of `using` / `withCheck` from the dialect).
 */
function policyStatements(table: PgTable): string[] {
  const config = getTableConfig(table);
  const dialect = new PgDialect();
  const target = `"${config.schema ?? 'public'}"."${config.name}"`;
  const roleName = (role: PgPolicy['to']) =>
    (Array.isArray(role) ? role : [role]).map((r) => (r instanceof PgRole ? `"${r.name}"` : r === 'public' ? 'public' : `"${String(r)}"`)).join(', ');
  const render = (expression: PgPolicy['using']) => {
    if (!expression) return undefined;
    const query = dialect.sqlToQuery(expression);
    expect(query.params).toEqual([]); // drizzle-kit inlines; these expressions have no parameters
    return query.sql;
  };
  return [
    `ALTER TABLE ${target} ENABLE ROW LEVEL SECURITY`,
    ...config.policies.map((policy) => {
      const using = render(policy.using);
      const withCheck = render(policy.withCheck);
      return `CREATE POLICY "${policy.name}" ON ${target} AS ${(policy.as ?? 'permissive').toUpperCase()} FOR ${(policy.for ?? 'all').toUpperCase()} TO ${roleName(policy.to ?? 'public')}`
        + (using ? ` USING (${using})` : '')
        + (withCheck ? ` WITH CHECK (${withCheck})` : '');
    }),
  ];
}

/** Drizzle wraps driver errors (DrizzleQueryError); the Postgres error is its cause. */
const sqlState = async (promise: Promise<unknown>) =>
  (await pgError(promise.catch((error: { cause?: unknown }) => Promise.reject(error?.cause ?? error)))).code;

let db: TestDatabase;
let issuer: TestIssuer;
let pool: pg.Pool;

beforeAll(async () => {
  db = await createTestDatabase();
  issuer = await TestIssuer.create(db.pool, 'neon-like');
  await db.pool.query(`CREATE TABLE todos (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, user_id text NOT NULL, title text NOT NULL);
    GRANT SELECT, INSERT, UPDATE, DELETE ON todos TO authenticated;
    INSERT INTO todos (user_id, title) VALUES ('alice', 'a1'), ('alice', 'a2'), ('bob', 'b1');`);
  for (const statement of policyStatements(todos)) await db.pool.query(statement);
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

describe('Drizzle Neon RLS helpers on authdb', () => {
  it('generates policies that call auth.user_id(), as pg_session_jwt expects', () => {
    const statements = policyStatements(todos);
    expect(statements).toHaveLength(5);
    expect(statements[1]).toBe(
      'CREATE POLICY "crud-authenticated-policy-select" ON "public"."todos" AS PERMISSIVE FOR SELECT TO "authenticated" USING ((select auth.user_id() = "todos"."user_id"))',
    );
  });

  it('shows two users only their own rows, through Drizzle queries inside withAuth', async () => {
    const titlesOf = async (sub: string) =>
      withAuth(pool, await issuer.hs256({ sub }), async (client) => {
        const orm = drizzle(client);
        return (await orm.select({ title: todos.title }).from(todos).orderBy(asc(todos.id))).map((row) => row.title);
      });
    expect(await titlesOf('alice')).toEqual(['a1', 'a2']);
    expect(await titlesOf('bob')).toEqual(['b1']);
  });

  it('lets a user write their own rows and nobody else\'s (crudPolicy modify = WITH CHECK)', async () => {
    const alice = await issuer.hs256({ sub: 'alice' });
    await withAuth(pool, alice, (client) => drizzle(client).insert(todos).values({ userId: 'alice', title: 'a3' }));
    expect(await sqlState(withAuth(pool, alice, (client) => drizzle(client).insert(todos).values({ userId: 'bob', title: 'x' })))).toBe('42501');
    expect(await sqlState(withAuth(pool, alice, (client) => drizzle(client).update(todos).set({ userId: 'bob' })))).toBe('42501');
    const removed = await withAuth(pool, alice, (client) => drizzle(client).delete(todos).returning({ id: todos.id }));
    expect(removed).toHaveLength(3); // alice's three rows, never bob's
    expect((await db.pool.query('SELECT user_id, title FROM todos')).rows).toEqual([{ user_id: 'bob', title: 'b1' }]);
  });

  it('is the per-row form doctor warns about: the sub-select is correlated', async () => {
    const { rows } = await db.pool.query("SELECT qual FROM pg_policies WHERE policyname = 'crud-authenticated-policy-select'");
    expect(rows[0].qual).toBe('( SELECT (auth.user_id() = todos.user_id))');
    expect(await perRowAuthCalls(rows[0].qual)).toEqual(['auth.user_id()']);
    expect(await perRowAuthCalls('(user_id = ( SELECT auth.user_id() AS user_id))')).toEqual([]);
  });
});

describe('SQL written for pg_session_jwt', () => {
  it('auth.init(), auth.jwt_session_init(jwt), auth.session() and auth.user_id() behave as there', async () => {
    const client = await pool.connect();
    try {
      await client.query('SELECT auth.init()');
      await client.query('SELECT auth.jwt_session_init($1)', [await issuer.hs256({ sub: 'bob', role: 'editor' })]);
      await client.query('SET ROLE authenticated');
      const { rows } = await client.query("SELECT auth.user_id() AS sub, auth.session() ->> 'role' AS role, auth.session() ->> 'iss' AS iss");
      expect(rows[0]).toEqual({ sub: 'bob', role: 'editor', iss: issuer.issuer });
      expect((await client.query('SELECT title FROM todos')).rows).toEqual([{ title: 'b1' }]);
    } finally {
      await client.query('RESET ROLE; SELECT auth.reset()');
      client.release();
    }
  });
});
