// Revocation on a read-only hot standby (docs/revocation.md, docs/security.md §7, §13): entries are
// data, replicated like keys, so a revocation made on the primary rejects on the standby — on the
// cold path, from the verified-token cache of a standby backend that verified the token before, and
// for a session identity held there — and checking writes nothing the standby would refuse.
// Debian's PostgreSQL 15 and pg_basebackup -R by default; in the version matrix (AUTHDB_TEST_PG_MAJOR)
// that major's embedded binaries and a cold copy, as test/standby.replica.test.ts does.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgError } from './support/db.js';
import { createStandbyPair, destroyStandbyPair, type StandbyPair, standbySupport, waitForReplay } from './support/server.js';
import { TestIssuer } from './support/tokens.js';

const { available } = standbySupport('revocation standby tests');

let pair: StandbyPair | undefined;
let primaryPool: pg.Pool;
let standbyPool: pg.Pool;
let issuer: TestIssuer;
let kid: string;
const now = () => Math.floor(Date.now() / 1000);

/** Waits until the standby has replayed everything the primary wrote so far. */
async function replayed(): Promise<void> {
  const { rows } = await primaryPool.query('SELECT pg_current_wal_lsn()::text AS lsn');
  await waitForReplay(async () =>
    (await standbyPool.query('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS done', [rows[0].lsn])).rows[0].done === true);
}

beforeAll(async () => {
  if (!available) return;
  pair = await createStandbyPair({
    standbyPoolMax: 4,
    provision: async (pool) => {
      issuer = await TestIssuer.create(pool, 'idp');
      kid = await issuer.addKey('EdDSA');
    },
  });
  ({ primaryPool, standbyPool } = pair);
}, 180_000);

afterAll(async () => {
  await destroyStandbyPair(pair);
});

describe.skipIf(!available)('revocation on a streaming hot standby', () => {
  it('a revocation made on the primary rejects on the standby: cold, cached, and a session identity ends', async () => {
    const token = await issuer.sign(kid, { sub: 'alice', jti: 'jti-1', iat: now() - 30 });
    const sessionToken = await issuer.sign(kid, { sub: 'bob', sid: 'sid-1', iat: now() - 30 });
    const cold = await issuer.sign(kid, { sub: 'alice', iat: now() - 30 });

    // a standby backend verifies (and caches) the token and holds bob's session identity
    const backend = new pg.Client({ connectionString: pair!.standby.url('app') });
    await backend.connect();
    try {
      expect((await backend.query('SELECT pg_is_in_recovery() AS r')).rows[0].r).toBe(true);
      expect((await backend.query('SELECT auth.verify($1) ->> $2 AS sub', [token, 'sub'])).rows[0].sub).toBe('alice');
      await backend.query(`SELECT auth.init($1, 'session')`, [sessionToken]);
      expect((await backend.query('SELECT auth.user_id() AS sub')).rows[0].sub).toBe('bob');

      await primaryPool.query(`SELECT auth.revoke_subject('idp', 'alice'), auth.revoke_session('idp', 'sid-1')`);
      await replayed();

      // cached in this standby backend: rejected all the same
      expect(await pgError(backend.query('SELECT auth.verify($1)', [token]))).toMatchObject({ code: '28000', message: 'jwt rejected: revoked' });
      // the session identity held on the standby ends
      expect((await backend.query('SELECT auth.user_id() AS sub, auth.session() AS claims')).rows[0]).toEqual({ sub: null, claims: null });
      // a backend that never saw the token (the cold path), in a read-only transaction as authenticated
      const client = await standbyPool.connect();
      try {
        await client.query('BEGIN READ ONLY');
        await client.query('SET LOCAL ROLE authenticated');
        expect(await pgError(client.query('SELECT auth.init($1)', [cold]))).toMatchObject({ code: '28000', message: 'jwt rejected: revoked' });
        await client.query('ROLLBACK');
      } finally {
        client.release();
      }
      // a later sign-in passes on the standby
      const later = await issuer.sign(kid, { sub: 'alice', iat: now() + 2 });
      expect((await standbyPool.query('SELECT auth.verify($1) ->> $2 AS sub', [later, 'sub'])).rows[0].sub).toBe('alice');
    } finally {
      await backend.end();
    }
  });

  it('a maximum token age set on the primary applies on the standby; revoke functions cannot run there', async () => {
    const old = await issuer.sign(kid, { sub: 'carol', iat: now() - 7200, exp: now() + 86400 });
    expect((await standbyPool.query('SELECT auth.verify($1) ->> $2 AS sub', [old, 'sub'])).rows[0].sub).toBe('carol');
    await primaryPool.query(`UPDATE auth.providers SET max_token_age_seconds = 3600 WHERE name = 'idp'`);
    await replayed();
    expect(await pgError(standbyPool.query('SELECT auth.verify($1)', [old]))).toMatchObject({ code: '28000', message: 'jwt rejected: expired' });
    // the standby is read-only: revocations are made on the primary
    expect((await pgError(standbyPool.query(`SELECT auth.revoke_token('idp', 'x')`))).code).toBe('25006');
  });
});
