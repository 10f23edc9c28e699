// The verified-token cache and the provider's epoch (sql/functions/72_verify.sql, migration 0014):
// a cached token skips the claim checks only while its provider's settings and revocations are
// those it was checked under, and never outlives the moment of expiry sealed in its entry.
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inRolledBackTransaction, pgError, type TestDatabase, withPoolClient } from './support/db.js';
import { databaseWithIssuer, TestIssuer } from './support/tokens.js';
import { cacheSlot, tokenDigest, writeCacheSlot } from './support/vcache.js';

let db: TestDatabase;
let issuer: TestIssuer;

beforeAll(async () => ({ db, issuer } = await databaseWithIssuer()));
afterAll(async () => db?.drop());

const epoch = async (): Promise<number> =>
  Number((await db.pool.query(`SELECT revocation_epoch FROM auth.providers WHERE name = 'idp'`)).rows[0].revocation_epoch);

/** The rejection code of auth.init for `token` on this connection, or 'accepted'. */
async function init(client: pg.ClientBase, token: string): Promise<string> {
  try {
    await client.query('SELECT auth.init($1)', [token]);
    return 'accepted';
  } catch (error) {
    const e = error as pg.DatabaseError;
    expect(e.code, e.message).toBe('28000');
    return /^jwt rejected: ([a-z_]+)$/.exec(e.message)![1]!;
  }
}

/** Verifies `token` twice on one backend (the second from the cache), changes the provider, tries again. */
async function afterChange(token: string, change: string, restore: string): Promise<string> {
  return withPoolClient(db.pool, async (client) => {
    try {
      expect(await init(client, token)).toBe('accepted');
      expect(await init(client, token)).toBe('accepted');
      expect(await cacheSlot(client, tokenDigest(token))).toMatch(/^[0-9a-f]{64}\|/);
      await db.pool.query(change);
      return await init(client, token);
    } finally {
      await db.pool.query(restore);
    }
  });
}

describe('a cached token meets the provider as it is now', () => {
  const now = () => Math.floor(Date.now() / 1000);
  const cases: { change: string; claims: () => Record<string, unknown>; set: string; reset: string; code: string }[] = [
    { change: 'new audiences', claims: () => ({}), set: `audiences = '{other}'`, reset: `audiences = '{api}'`, code: 'audience_mismatch' },
    { change: 'a shorter leeway, past which the token has expired', claims: () => ({ exp: now() - 10 }),
      set: 'leeway_seconds = 0', reset: 'leeway_seconds = 30', code: 'expired' },
    { change: 'a new issuer', claims: () => ({}), set: `issuer = 'https://moved.test'`, reset: `issuer = 'https://idp.test'`, code: 'issuer_mismatch' },
    { change: 'a maximum token age the token is already past', claims: () => ({ iat: now() - 120 }),
      set: 'max_token_age_seconds = 60', reset: 'max_token_age_seconds = NULL', code: 'expired' },
    { change: 'an allow-list without the algorithm', claims: () => ({}), set: `algorithms = '{RS256}'`, reset: 'algorithms = NULL', code: 'unsupported_algorithm' },
  ];
  it.each(cases)('$change', async ({ change, claims, set, reset, code }) => {
    const token = await issuer.hs256({ sub: change, ...claims() });
    expect(await afterChange(token, `UPDATE auth.providers SET ${set} WHERE name = 'idp'`, `UPDATE auth.providers SET ${reset} WHERE name = 'idp'`)).toBe(code);
  });
});

describe('the epoch', () => {
  it('rises with a change of settings, not with sync bookkeeping, and never falls', async () => {
    const before = await epoch();
    await db.pool.query(`UPDATE auth.providers SET etag = 'W/"1"', last_synced_at = now(), next_refresh_at = now(), sync_failures = 2 WHERE name = 'idp'`);
    expect(await epoch()).toBe(before);
    await db.pool.query(`UPDATE auth.providers SET grace_seconds = grace_seconds + 1 WHERE name = 'idp'`);
    expect(await epoch()).toBe(before + 1);
    await db.pool.query(`UPDATE auth.providers SET revocation_epoch = 0 WHERE name = 'idp'`);
    expect(await epoch()).toBe(before + 1);
    await db.pool.query(`UPDATE auth.providers SET revocation_epoch = 0, leeway_seconds = leeway_seconds WHERE name = 'idp'`);
    expect(await epoch()).toBe(before + 1);
  });

  it('rises under session_replication_role = replica (logical replication applies so)', async () => {
    const before = await epoch();
    await inRolledBackTransaction(db.pool, async (client) => {
      await client.query('SET LOCAL session_replication_role = replica');
      await client.query(`UPDATE auth.providers SET grace_seconds = grace_seconds + 1 WHERE name = 'idp'`);
      expect(Number((await client.query(`SELECT revocation_epoch FROM auth.providers WHERE name = 'idp'`)).rows[0].revocation_epoch)).toBe(before + 1);
    });
  });

  it('is raised by the trigger whatever the updating session\'s search_path holds', async () => {
    const before = await epoch();
    await inRolledBackTransaction(db.pool, async (client) => {
      await client.query('CREATE SCHEMA evil');
      // exact-type matches that would win over pg_catalog's polymorphic to_jsonb and its operators
      await client.query(`CREATE FUNCTION evil.to_jsonb(auth.providers) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$`);
      await client.query(`CREATE FUNCTION evil.greatest_hook(bigint, integer) RETURNS bigint LANGUAGE sql AS $$ SELECT 0::bigint $$`);
      await client.query(`CREATE OPERATOR evil.+ (LEFTARG = bigint, RIGHTARG = integer, FUNCTION = evil.greatest_hook)`);
      await client.query('SET LOCAL search_path = evil, pg_catalog');
      await client.query(`UPDATE auth.providers SET grace_seconds = grace_seconds + 1 WHERE name = 'idp'`);
      await client.query(`INSERT INTO auth.revocations (provider_id, kind, value) SELECT id, 'token', 'hijack' FROM auth.providers WHERE name = 'idp'`);
      const now = Number((await client.query(`SELECT revocation_epoch FROM auth.providers WHERE name = 'idp'`)).rows[0].revocation_epoch);
      expect(now).toBe(before + 2);
    });
  });
});

describe('the sealed moment of expiry', () => {
  it('ends a cached token when it passes, without a claim check', async () => {
    await db.pool.query(`UPDATE auth.providers SET leeway_seconds = 0 WHERE name = 'idp'`);
    try {
      const token = await issuer.hs256({ sub: 'soon', exp: Math.floor(Date.now() / 1000) + 2 });
      await withPoolClient(db.pool, async (client) => {
        expect(await init(client, token)).toBe('accepted');
        expect(await init(client, token)).toBe('accepted');
        await new Promise((resolve) => setTimeout(resolve, 3100));
        const error = await pgError(client.query('SELECT auth.init($1)', [token]));
        expect(error.message).toBe('jwt rejected: expired');
        expect(error.detail).toMatch(/expired \d+ seconds ago/);  // the cached path's own check
      });
    } finally {
      await db.pool.query(`UPDATE auth.providers SET leeway_seconds = 30 WHERE name = 'idp'`);
    }
  });

  it('is sealed: an entry whose moment was pushed back is a miss, and the token is checked from scratch', async () => {
    await db.pool.query(`UPDATE auth.providers SET leeway_seconds = 0 WHERE name = 'idp'`);
    try {
      const token = await issuer.hs256({ sub: 'pushed', exp: Math.floor(Date.now() / 1000) + 2 });
      await withPoolClient(db.pool, async (client) => {
        expect(await init(client, token)).toBe('accepted');
        const digest = tokenDigest(token);
        const entry = await cacheSlot(client, digest);
        const fields = entry.split('|');
        expect(fields).toHaveLength(5);
        fields[3] = String(Number(fields[3]) + 86400);
        await writeCacheSlot(client, digest, fields.join('|'));
        await new Promise((resolve) => setTimeout(resolve, 3100));
        const error = await pgError(client.query('SELECT auth.init($1)', [token]));
        expect(error.message).toBe('jwt rejected: expired');
        expect(error.detail).toMatch(/"exp" passed/);  // the full check's message: the entry did not count
      });
    } finally {
      await db.pool.query(`UPDATE auth.providers SET leeway_seconds = 30 WHERE name = 'idp'`);
    }
  });
});
