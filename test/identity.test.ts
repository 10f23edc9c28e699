import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, pgError, type TestDatabase } from './support/db.js';
import { TestIssuer } from './support/tokens.js';

let db: TestDatabase;
let issuer: TestIssuer;

beforeAll(async () => {
  db = await createTestDatabase();
  issuer = await TestIssuer.create(db.pool, 'idp');
});
afterAll(async () => db?.drop());

describe('identity', () => {
  it('auth.init makes the claims the identity of this transaction only', async () => {
    const token = await issuer.hs256({ sub: 'alice' });
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SET LOCAL ROLE authenticated');
      const init = await client.query('SELECT auth.init($1) AS claims', [token]);
      expect(init.rows[0].claims.sub).toBe('alice');
      const who = await client.query('SELECT auth.user_id() AS sub, auth.session() ->> $1 AS iss', ['iss']);
      expect(who.rows[0]).toEqual({ sub: 'alice', iss: issuer.issuer });
      await client.query('COMMIT');
      const after = await client.query('SELECT auth.user_id() AS sub, auth.session() AS session');
      expect(after.rows[0]).toEqual({ sub: null, session: null });
    } finally {
      client.release();
    }
  });

  it('a forged setting never becomes an identity', async () => {
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SET LOCAL ROLE authenticated');
      await client.query(
        `SELECT set_config('authdb.identity', 'session||${'0'.repeat(64)}|{"sub":"mallory"}', true)`,
      );
      const error = await pgError(client.query('SELECT auth.user_id()'));
      expect(error.code).toBe('28000');
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
  });
});
