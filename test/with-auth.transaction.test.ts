// withAuth: one transaction per request, and nothing left on the pooled connection afterwards
// (docs/security.md §10): no identity, no temporary objects that shadow tables, no session-level
// role or search_path.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rejectionOf, TransactionAbortedError, withAuth } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { TestIssuer } from './support/tokens.js';
import { qualifyQueries } from './support/schema.js';
import { cacheEntries } from './support/vcache.js';

let db: TestDatabase;
let issuer: TestIssuer;
let pool: pg.Pool; // one connection: every call reuses the same backend

const whoAmI = async (client: pg.ClientBase) =>
  (await client.query<{ sub: string | null; role: string; backend: number }>(
    'SELECT auth.user_id() AS sub, current_user::text AS role, pg_backend_pid() AS backend',
  )).rows[0]!;

beforeAll(async () => {
  db = await createTestDatabase();
  issuer = await TestIssuer.create(db.pool, 'idp');
  await db.pool.query(`
    CREATE TABLE todos (id serial, user_id text NOT NULL, title text);
    INSERT INTO todos (user_id, title) VALUES ('alice', 'milk'), ('bob', 'bread');
    SELECT auth.policy_owner('todos');`);
  pool = new pg.Pool({ connectionString: db.url, max: 1 });
  pool.on('connect', (client) => qualifyQueries(client));
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

describe('withAuth', () => {
  it('never leaks identity to the next user of a pooled connection (A, then B, then no token)', async () => {
    const a = await withAuth(pool, await issuer.hs256({ sub: 'alice' }), async (client) => ({
      ...(await whoAmI(client)),
      titles: (await client.query('SELECT title FROM todos')).rows.map((row) => row.title),
    }));
    const b = await withAuth(pool, await issuer.hs256({ sub: 'bob' }), async (client) => ({
      ...(await whoAmI(client)),
      titles: (await client.query('SELECT title FROM todos')).rows.map((row) => row.title),
    }));
    const none = await withAuth(pool, null, async (client) => whoAmI(client));
    expect(a).toMatchObject({ sub: 'alice', role: 'authenticated', titles: ['milk'] });
    expect(b).toMatchObject({ sub: 'bob', role: 'authenticated', titles: ['bread'] });
    expect(none).toMatchObject({ sub: null, role: 'anonymous' });
    expect(new Set([a.backend, b.backend, none.backend]).size).toBe(1); // the same connection every time
    // Outside withAuth the connection is back to its login role, with no identity.
    const after = await pool.query('SELECT auth.user_id() AS sub, current_user::text AS role');
    expect(after.rows[0]).toEqual({ sub: null, role: 'postgres' });
  });

  it('commits what fn wrote and returns its result', async () => {
    const id = await withAuth(pool, await issuer.hs256({ sub: 'alice' }), async (client) => {
      const { rows } = await client.query<{ id: number }>("INSERT INTO todos (user_id, title) VALUES ('alice', 'eggs') RETURNING id");
      return rows[0]!.id;
    });
    expect(typeof id).toBe('number');
    expect((await db.pool.query('SELECT user_id FROM todos WHERE id = $1', [id])).rows).toEqual([{ user_id: 'alice' }]);
  });

  it('rolls back when fn throws, and leaves the connection clean', async () => {
    const failure = withAuth(pool, await issuer.hs256({ sub: 'alice' }), async (client) => {
      await client.query("INSERT INTO todos (user_id, title) VALUES ('alice', 'ghost')");
      throw new Error('handler failed');
    });
    await expect(failure).rejects.toThrow('handler failed');
    expect((await db.pool.query("SELECT * FROM todos WHERE title = 'ghost'")).rowCount).toBe(0);
    const next = await withAuth(pool, null, whoAmI);
    expect(next).toMatchObject({ sub: null, role: 'anonymous' });
  });

  it('rethrows a rejected token with its code, and runs nothing', async () => {
    let ran = false;
    const expired = await issuer.hs256({ sub: 'alice', exp: Math.floor(Date.now() / 1000) - 3600 });
    const error = await withAuth(pool, expired, async () => {
      ran = true;
    }).catch((e: unknown) => e);
    expect(rejectionOf(error)?.code).toBe('expired');
    expect(ran).toBe(false);
    expect((await pool.query('SELECT auth.user_id() AS sub, current_user::text AS role')).rows[0]).toEqual({ sub: null, role: 'postgres' });
  });

  it('refuses to report success when fn swallowed a database error (COMMIT would roll back)', async () => {
    const result = withAuth(pool, await issuer.hs256({ sub: 'alice' }), async (client) => {
      await client.query("INSERT INTO todos (user_id, title) VALUES ('alice', 'lost')");
      await client.query("INSERT INTO todos (user_id, title) VALUES ('bob', 'planted')").catch(() => undefined);
      return 'ok';
    });
    await expect(result).rejects.toBeInstanceOf(TransactionAbortedError);
    expect((await db.pool.query("SELECT * FROM todos WHERE title IN ('lost', 'planted')")).rowCount).toBe(0);
  });

  it('clears a session-wide identity someone left behind before an anonymous request', async () => {
    const client = await pool.connect();
    try {
      await client.query('SELECT auth.jwt_session_init($1)', [await issuer.hs256({ sub: 'mallory' })]);
      expect((await client.query('SELECT auth.user_id() AS sub')).rows[0].sub).toBe('mallory');
    } finally {
      client.release();
    }
    const next = await withAuth(pool, undefined, whoAmI);
    expect(next.sub).toBeNull();
    const bobView = await withAuth(pool, await issuer.hs256({ sub: 'bob' }), whoAmI);
    expect(bobView.sub).toBe('bob');
  });

  it('works on a client the caller owns, without releasing it', async () => {
    const client = qualifyQueries(new pg.Client({ connectionString: db.url }));
    await client.connect();
    try {
      const sub = await withAuth(client, await issuer.hs256({ sub: 'bob' }), async (c) => (await whoAmI(c)).sub);
      expect(sub).toBe('bob');
      expect((await client.query('SELECT auth.user_id() AS sub')).rows[0].sub).toBeNull();
    } finally {
      await client.end();
    }
  });

  it('discards a connection that broke inside fn instead of returning it to the pool', async () => {
    const before = await withAuth(pool, null, whoAmI);
    const broken = withAuth(pool, null, async (client) => {
      await db.pool.query('SELECT pg_terminate_backend($1)', [(await whoAmI(client)).backend]);
      await client.query('SELECT 1');
    });
    await expect(broken).rejects.toThrow();
    const after = await withAuth(pool, null, whoAmI);
    expect(after.backend).not.toBe(before.backend);
    expect(after.sub).toBeNull();
  });

  // Issue 9.2: through PUBLIC's TEMP privilege, a request as `authenticated` plants a temporary
  // table named like an app table, with a trigger; the next user's unqualified INSERT used to go
  // into it, and the trigger copied her row and claims for the planter to read later.
  it('a temporary table with a trigger planted by one request never catches the next user\'s rows', async () => {
    const mallory = await issuer.hs256({ sub: 'mallory' });
    await withAuth(pool, mallory, async (client) => {
      await client.query(`
        CREATE TEMP TABLE todos (id serial, user_id text, title text, claims jsonb);
        CREATE FUNCTION pg_temp.steal() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN NEW.claims := auth.session(); RETURN NEW; END $$;
        CREATE TRIGGER steal BEFORE INSERT ON pg_temp.todos FOR EACH ROW EXECUTE FUNCTION pg_temp.steal();
        -- a cursor WITH HOLD outlives COMMIT and keeps the table in use
        DECLARE keep CURSOR WITH HOLD FOR SELECT * FROM pg_temp.todos;`);
    });
    const inserted = await withAuth(pool, await issuer.hs256({ sub: 'alice' }), async (client) => {
      const { rows } = await client.query<{ id: number }>("INSERT INTO todos (user_id, title) VALUES ('alice', 'diary') RETURNING id");
      return { id: rows[0]!.id, table: (await client.query("SELECT 'todos'::regclass::text AS t")).rows[0].t as string };
    });
    expect(inserted.table).toBe('todos');
    expect((await db.pool.query('SELECT user_id FROM public.todos WHERE id = $1', [inserted.id])).rows).toEqual([{ user_id: 'alice' }]);
    const loot = await withAuth(pool, mallory, async (client) =>
      (await client.query("SELECT pg_catalog.to_regclass('pg_temp.todos') AS planted, pg_catalog.pg_my_temp_schema() AS temp_schema")).rows[0]);
    expect(loot.planted).toBeNull();
  });

  it('a temporary table left by a raw-SQL user of the connection does not shadow the app table (pg_temp last)', async () => {
    const client = await pool.connect();
    try {
      await client.query('SET ROLE authenticated; CREATE TEMP TABLE todos (id serial, user_id text, title text); RESET ROLE');
    } finally {
      client.release();
    }
    const id = await withAuth(pool, await issuer.hs256({ sub: 'alice' }), async (c) => {
      expect((await c.query('SHOW search_path')).rows[0].search_path).toMatch(/, pg_temp$/);
      return (await c.query<{ id: number }>("INSERT INTO todos (user_id, title) VALUES ('alice', 'shadowed?') RETURNING id")).rows[0]!.id;
    });
    expect((await db.pool.query('SELECT title FROM public.todos WHERE id = $1', [id])).rows).toEqual([{ title: 'shadowed?' }]);
    // …and withAuth's clean-up dropped the raw user's table too
    expect((await pool.query("SELECT pg_catalog.to_regclass('pg_temp.todos') AS t")).rows[0].t).toBeNull();
  });

  it('a session-level SET search_path, SET ROLE or session identity of one request does not reach the next', async () => {
    await db.pool.query('CREATE SCHEMA IF NOT EXISTS decoy; CREATE TABLE IF NOT EXISTS decoy.todos (id int, user_id text, title text); GRANT USAGE ON SCHEMA decoy TO PUBLIC; GRANT ALL ON decoy.todos TO PUBLIC');
    await withAuth(pool, await issuer.hs256({ sub: 'mallory' }), async (client) => {
      await client.query("SELECT auth.init($1, 'session')", [await issuer.hs256({ sub: 'mallory' })]);
      await client.query('SET search_path = decoy, public; SET ROLE anonymous'); // not LOCAL: persists past COMMIT
    });
    const after = await pool.query<{ role: string; path: string; sub: string | null }>(
      "SELECT current_user::text AS role, current_setting('search_path') AS path, auth.user_id() AS sub");
    expect(after.rows[0]).toEqual({ role: 'postgres', path: '"$user", public', sub: null });
    const next = await withAuth(pool, await issuer.hs256({ sub: 'bob' }), async (client) => ({
      ...(await whoAmI(client)),
      table: (await client.query("SELECT 'todos'::regclass::text AS t")).rows[0].t as string,
    }));
    expect(next).toMatchObject({ sub: 'bob', role: 'authenticated', table: 'todos' });
  });

  it('a request that COMMITs inside fn and plants a temporary table as the login role leaves nothing behind', async () => {
    const loginRole = await withAuth(pool, await issuer.hs256({ sub: 'mallory' }), async (client) => {
      await client.query('COMMIT'); // ends withAuth's transaction: SET LOCAL ROLE is gone
      const role = (await client.query('SELECT current_user::text AS role')).rows[0].role as string;
      await client.query('CREATE TEMP TABLE todos (id serial, user_id text, title text)');
      return role;
    });
    expect(loginRole).toBe('postgres'); // why the login role must hold no data privileges (docs/rls.md)
    const id = await withAuth(pool, await issuer.hs256({ sub: 'alice' }), async (client) => {
      expect((await client.query("SELECT pg_catalog.to_regclass('pg_temp.todos') AS t")).rows[0].t).toBeNull();
      return (await client.query<{ id: number }>("INSERT INTO todos (user_id, title) VALUES ('alice', 'after commit') RETURNING id")).rows[0]!.id;
    });
    expect((await db.pool.query('SELECT user_id FROM public.todos WHERE id = $1', [id])).rows).toEqual([{ user_id: 'alice' }]);
  });

  it('searchPath names the request\'s schemas, with pg_temp last, and is undone afterwards', async () => {
    await db.pool.query('CREATE SCHEMA IF NOT EXISTS decoy');
    const path = await withAuth(pool, null, async (client) => (await client.query('SHOW search_path')).rows[0].search_path as string, { searchPath: ['decoy', 'public'] });
    expect(path).toBe('decoy, public, pg_temp');
    expect((await pool.query('SHOW search_path')).rows[0].search_path).toBe('"$user", public');
  });

  it('keeps the verified-token cache across requests (no DISCARD ALL / RESET ALL)', async () => {
    await withAuth(pool, await issuer.hs256({ sub: 'carol' }), whoAmI);
    const client = await pool.connect();
    try {
      expect((await cacheEntries(client)).length).toBeGreaterThan(0);
    } finally {
      client.release();
    }
  });

  it('takes two round trips besides fn, with a token and without (setup with auth.init, COMMIT with clean-up)', async () => {
    const client = qualifyQueries(new pg.Client({ connectionString: db.url }));
    await client.connect();
    try {
      const sent: string[] = [];
      const query = client.query.bind(client) as (...args: unknown[]) => unknown;
      (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
        sent.push(typeof args[0] === 'string' ? args[0] : 'config');
        return query(...args);
      };
      const token = await issuer.hs256({ sub: 'bob' });
      const sub = await withAuth(client, token, async (c) => (await whoAmI(c)).sub);
      expect(sub).toBe('bob');
      expect(sent).toHaveLength(3);
      expect(sent[0]).toMatch(/^BEGIN; SET LOCAL ROLE "authenticated"; .*; SELECT auth\.init\('[A-Za-z0-9_.-]+'\) IS NOT NULL$/);
      expect(sent[2]).toMatch(/^COMMIT; CLOSE ALL; DISCARD TEMP; RESET ROLE; RESET search_path/);
      sent.length = 0;
      await withAuth(client, null, async () => undefined);
      expect(sent).toHaveLength(2);
      expect(sent[1]).toMatch(/^COMMIT; CLOSE ALL; DISCARD TEMP; RESET ROLE; RESET search_path/);
    } finally {
      await client.end();
    }
  });

  it('never puts a token that is not a compact JWS into SQL text: it is bound, and rejected', async () => {
    const client = qualifyQueries(new pg.Client({ connectionString: db.url }));
    await client.connect();
    try {
      const sent: { text: string; values?: unknown[] }[] = [];
      const query = client.query.bind(client) as (...args: unknown[]) => unknown;
      (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
        sent.push({ text: String(args[0]), values: args[1] as unknown[] | undefined });
        return query(...args);
      };
      const valid = await issuer.hs256({ sub: 'mallory' });
      for (const hostile of [
        `${valid}'); DROP TABLE todos; --`,
        `${valid}\\'; SELECT pg_sleep(10); --`,
        `a.b.c'||(SELECT auth.rotate_seal_secret())||'`,
        `${valid}\n`,
        `${valid}.`,
      ]) {
        sent.length = 0;
        let ran = false;
        const error = await withAuth(client, hostile, async () => {
          ran = true;
        }).catch((e: unknown) => e);
        expect(rejectionOf(error)?.code).toBe('malformed');
        expect(ran).toBe(false);
        expect(sent[0]!.text).not.toContain(hostile);
        expect(sent[0]!.text).not.toContain('auth.init');
        expect(sent[1]).toEqual({ text: 'SELECT auth.init($1)', values: [hostile] });
        expect((await client.query('SELECT current_user::text AS role')).rows[0].role).toBe('postgres');
      }
      expect((await db.pool.query('SELECT count(*)::int AS n FROM todos')).rows[0].n).toBeGreaterThan(0);
    } finally {
      await client.end();
    }
  });
});
