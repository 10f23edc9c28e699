// withAuth: one transaction per request, and nothing left on the pooled connection afterwards.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rejectionOf, TransactionAbortedError, withAuth } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { TestIssuer } from './support/tokens.js';

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
    const client = new pg.Client({ connectionString: db.url });
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
});
