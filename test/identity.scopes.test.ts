// The sealed identity (security model §2–§3): scopes, reset, expiry, and forged or copied settings.
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgError, type TestDatabase, withCleanConnection } from './support/db.js';
import { databaseWithIssuer, TestIssuer } from './support/tokens.js';

let db: TestDatabase;
let issuer: TestIssuer;

beforeAll(async () => ({ db, issuer } = await databaseWithIssuer()));
afterAll(async () => db?.drop());

const withConnection = <T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> => withCleanConnection(db.pool, fn);

const who = async (client: pg.ClientBase) =>
  (await client.query('SELECT auth.user_id() AS sub, auth.session() ->> $1 AS iss, auth.jwt() ->> $2 AS jwt_sub', ['iss', 'sub'])).rows[0];

describe('transaction scope (the default)', () => {
  it('auth.init returns the claims and makes them the identity until COMMIT', async () => {
    const token = await issuer.hs256({ sub: 'alice' });
    await withConnection(async (client) => {
      await client.query('BEGIN');
      await client.query('SET LOCAL ROLE authenticated');
      const init = await client.query('SELECT auth.init($1) AS claims', [token]);
      expect(init.rows[0].claims.sub).toBe('alice');
      expect(await who(client)).toEqual({ sub: 'alice', iss: issuer.issuer, jwt_sub: 'alice' });
      await client.query('COMMIT');
      expect(await who(client)).toEqual({ sub: null, iss: null, jwt_sub: null });
    });
  });

  it('ROLLBACK ends it too, and a rejected token leaves no identity', async () => {
    await withConnection(async (client) => {
      await client.query('BEGIN');
      await client.query('SELECT auth.init($1)', [await issuer.hs256({ sub: 'alice' })]);
      await client.query('ROLLBACK');
      expect((await who(client)).sub).toBeNull();
      await client.query('BEGIN');
      const error = await pgError(client.query('SELECT auth.init($1)', [await issuer.hs256({ sub: 'bob', exp: 1 })]));
      expect(error.message).toBe('jwt rejected: expired');
      await client.query('ROLLBACK');
      expect((await who(client)).sub).toBeNull();
    });
  });

  it('auth.uid() is the sub as uuid, NULL when the sub is not one', async () => {
    const id = '7d1d3b4e-2c52-4a47-9a53-4f1e3a5c9b10';
    await withConnection(async (client) => {
      await client.query('BEGIN');
      await client.query('SELECT auth.init($1)', [await issuer.hs256({ sub: id })]);
      expect((await client.query('SELECT auth.uid() AS uid')).rows[0].uid).toBe(id);
      await client.query('SELECT auth.init($1)', [await issuer.hs256({ sub: 'alice' })]);
      expect((await client.query('SELECT auth.uid() AS uid')).rows[0].uid).toBeNull();
      await client.query('COMMIT');
    });
  });

  it('keeps a sub and claims holding the setting\'s separator and escape characters exactly', async () => {
    const sub = 'auth0|abc%7C%25|';
    const claims = { sub, note: 'a|b \\| \\u007c %7C', list: ['|', '%'] };
    await withConnection(async (client) => {
      await client.query('BEGIN');
      await client.query('SET LOCAL ROLE authenticated');
      await client.query('SELECT auth.init($1)', [await issuer.hs256(claims)]);
      const row = (await client.query('SELECT auth.user_id() AS id, auth.session() AS claims, auth.has_claim($1, $2) AS has', ['list', '|'])).rows[0];
      expect(row.id).toBe(sub);
      expect(row.claims).toMatchObject(claims);
      expect(row.has).toBe(true);
      await client.query('COMMIT');
    });
  });

  it('rejects an unknown scope', async () => {
    const error = await pgError(db.pool.query(`SELECT auth.init($1, 'forever')`, [await issuer.hs256()]));
    expect(error.code).toBe('22023');
  });
});

describe('session scope', () => {
  it('auth.init(jwt, \'session\') and auth.jwt_session_init(jwt) keep the identity across transactions; auth.reset() drops it', async () => {
    await withConnection(async (client) => {
      await client.query(`SELECT auth.init($1, 'session')`, [await issuer.hs256({ sub: 'carol' })]);
      await client.query('BEGIN');
      await client.query('COMMIT');
      expect((await who(client)).sub).toBe('carol');
      await client.query('SELECT auth.reset()');
      expect((await who(client)).sub).toBeNull();
      await client.query('SELECT auth.jwt_session_init($1)', [await issuer.hs256({ sub: 'dave' })]);
      expect((await who(client)).sub).toBe('dave');
      await client.query('SELECT auth.reset()');
      expect((await who(client)).sub).toBeNull();
    });
  });

  it('a transaction identity overrides the session identity until the transaction ends', async () => {
    await withConnection(async (client) => {
      await client.query(`SELECT auth.init($1, 'session')`, [await issuer.hs256({ sub: 'carol' })]);
      await client.query('BEGIN');
      await client.query('SELECT auth.init($1)', [await issuer.hs256({ sub: 'erin' })]);
      expect((await who(client)).sub).toBe('erin');
      await client.query('COMMIT');
      expect((await who(client)).sub).toBe('carol');
    });
  });

  it('an identity whose token expired reads as NULL', async () => {
    await db.pool.query(`UPDATE auth.providers SET leeway_seconds = 0 WHERE name = 'idp'`);
    try {
      await withConnection(async (client) => {
        await client.query(`SELECT auth.init($1, 'session')`, [await issuer.hs256({ sub: 'frank', exp: Math.floor(Date.now() / 1000) + 2 })]);
        expect((await who(client)).sub).toBe('frank');
        await new Promise((resolve) => setTimeout(resolve, 3100));
        expect((await who(client)).sub).toBeNull();
      });
    } finally {
      await db.pool.query(`UPDATE auth.providers SET leeway_seconds = 30 WHERE name = 'idp'`);
    }
  });
});

describe('forged and copied settings never become an identity', () => {
  it('a value written with set_config raises, whatever its shape', async () => {
    const forgeries = [
      `s||1|${'0'.repeat(64)}|mallory||{"sub":"mallory"}`,
      `t|9999999999|1|1:${'ab'.repeat(32)}|mallory||{"sub":"mallory"}`,
      '{"sub":"mallory"}',
      's||||mallory||{"sub":"mallory"}',
      `t|9999999999|1|1:${'ab'.repeat(32)}|mallory||{"sub":"mallory"}|extra`,
    ];
    for (const forged of forgeries) {
      await withConnection(async (client) => {
        await client.query('BEGIN');
        await client.query('SET LOCAL ROLE authenticated');
        await client.query(`SELECT set_config('authdb.identity', $1, true)`, [forged]);
        const error = await pgError(client.query('SELECT auth.user_id()'));
        expect(error.code).toBe('28000');
        expect(error.message).toMatch(/seal/);
      });
    }
  });

  it('a value in the layout of 0.2 and earlier reads as no identity', async () => {
    for (const old of [`transaction|9999999999|1|1:${'ab'.repeat(32)}|0|{"sub":"mallory"}`, `session||1|1:${'ab'.repeat(32)}|0|{"sub":"mallory"}`]) {
      await withConnection(async (client) => {
        await client.query('BEGIN');
        await client.query('SET LOCAL ROLE authenticated');
        await client.query(`SELECT set_config('authdb.identity', $1, true)`, [old]);
        expect(await who(client)).toEqual({ sub: null, iss: null, jwt_sub: null });
      });
    }
  });

  it('a genuine value with edited claims raises', async () => {
    await withConnection(async (client) => {
      await client.query('BEGIN');
      await client.query('SET LOCAL ROLE authenticated');
      await client.query('SELECT auth.init($1)', [await issuer.hs256({ sub: 'alice' })]);
      const value = (await client.query(`SELECT current_setting('authdb.identity') AS v`)).rows[0].v as string;
      await client.query(`SELECT set_config('authdb.identity', $1, true)`, [value.replace('"alice"', '"admin"')]);
      expect((await pgError(client.query('SELECT auth.user_id()'))).code).toBe('28000');
    });
  });

  it('a transaction identity copied into a later transaction, or as a session value, raises', async () => {
    await withConnection(async (client) => {
      await client.query('BEGIN');
      await client.query('SELECT auth.init($1)', [await issuer.hs256({ sub: 'alice' })]);
      const value = (await client.query(`SELECT current_setting('authdb.identity') AS v`)).rows[0].v as string;
      await client.query('COMMIT');
      await client.query('BEGIN');
      await client.query(`SELECT set_config('authdb.identity', $1, true)`, [value]);
      expect((await pgError(client.query('SELECT auth.user_id()'))).code).toBe('28000');
      await client.query('ROLLBACK');
      await client.query(`SELECT set_config('authdb.identity', $1, false)`, [value]);
      expect((await pgError(client.query('SELECT auth.user_id()'))).code).toBe('28000');
      await client.query(`SELECT set_config('authdb.identity', $1, false)`, [value.replace(/^t\|/, 's|')]);
      expect((await pgError(client.query('SELECT auth.user_id()'))).code).toBe('28000');
    });
  });

  it('a session identity copied into another backend raises', async () => {
    const a = await db.pool.connect();
    const b = await db.pool.connect();
    try {
      await a.query(`SELECT auth.init($1, 'session')`, [await issuer.hs256({ sub: 'alice' })]);
      const value = (await a.query(`SELECT current_setting('authdb.identity') AS v`)).rows[0].v as string;
      expect((await who(a)).sub).toBe('alice');
      await b.query(`SELECT set_config('authdb.identity', $1, false)`, [value]);
      expect((await pgError(b.query('SELECT auth.user_id()'))).code).toBe('28000');
    } finally {
      await a.query('SELECT auth.reset()');
      await b.query('SELECT auth.reset()');
      a.release();
      b.release();
    }
  });
});
