// Revocation in SQL (docs/revocation.md, docs/security.md §13): auth.revoke_subject, revoke_token,
// revoke_session reject exactly the tokens they name — on the cold path, from the verified-token
// cache of a backend that verified the token before, and for session identities — with
// `jwt rejected: revoked`; a provider's maximum token age; pruning drops only dead entries; and only
// the schema owner may revoke, prune or read the entries.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, dropRoles, inRolledBackTransaction, pgError, withPoolClient, type TestDatabase } from './support/db.js';
import { qualifyQueries } from './support/schema.js';
import { TestIssuer } from './support/tokens.js';
import { cacheSlot, tokenDigest, writeCacheSlot } from './support/vcache.js';

let db: TestDatabase;
let idp: TestIssuer;
let other: TestIssuer;
let kid: string;
let otherKid: string;
const now = () => Math.floor(Date.now() / 1000);
const READER = `authdb_reader_${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  db = await createTestDatabase();
  idp = await TestIssuer.create(db.pool, 'idp');
  other = await TestIssuer.create(db.pool, 'other');
  kid = await idp.addKey('ES256');
  otherKid = await other.addKey('EdDSA');
});
afterAll(async () => {
  await db?.drop();
  await dropRoles(READER);
});

/** The outcome of auth.verify on a pooled connection: the sub, or the rejection code and DETAIL. */
async function verify(token: string, client: pg.ClientBase | pg.Pool = db.pool): Promise<{ sub?: string; code?: string; detail?: string }> {
  try {
    const { rows } = await client.query('SELECT auth.verify($1) AS claims', [token]);
    return { sub: rows[0].claims.sub };
  } catch (error) {
    const e = error as pg.DatabaseError;
    if (e.code !== '28000') throw error;
    return { code: e.message.replace(/^jwt rejected: /, ''), detail: e.detail };
  }
}

async function clearRevocations(): Promise<void> {
  await db.pool.query('DELETE FROM auth.revocations');
  await db.pool.query('UPDATE auth.providers SET max_token_age_seconds = NULL');
}

/** Runs `work` on a pooled client, then drops the role and the session identity it set before releasing it. */
function onSessionClient<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return withPoolClient(db.pool, async (client) => {
    try {
      return await work(client);
    } finally {
      await client.query('RESET ROLE; SELECT auth.reset()');
    }
  });
}

/** Whether this backend's verified-token cache holds `token` (the warm path will be taken). */
async function cached(client: pg.ClientBase, token: string): Promise<boolean> {
  const digest = tokenDigest(token);
  return (await cacheSlot(client, digest)).startsWith(`${digest.toString('hex')}|`);
}

describe('auth.revoke_subject', () => {
  it('rejects the subject\'s tokens issued before the moment, cold, with SQLSTATE 28000 and a DETAIL that names the kind only', async () => {
    await clearRevocations();
    const old = await idp.sign(kid, { sub: 'alice', iat: now() - 60 });
    const bob = await idp.sign(kid, { sub: 'bob', iat: now() - 60 });
    const otherAlice = await other.sign(otherKid, { sub: 'alice', iat: now() - 60 });
    expect(await verify(old)).toEqual({ sub: 'alice' });
    await db.pool.query(`SELECT auth.revoke_subject('idp', 'alice')`);
    const fresh = qualifyQueries(new pg.Client({ connectionString: db.url })); // a backend that never saw the token: the cold path
    await fresh.connect();
    try {
      const error = await pgError(fresh.query('SELECT auth.verify($1)', [old]));
      expect(error.code).toBe('28000');
      expect(error.message).toBe('jwt rejected: revoked');
      expect(error.detail).toMatch(/subject/);
      expect(error.detail).not.toContain('alice');
      expect(error.detail).not.toContain(old.split('.')[1]!);
    } finally {
      await fresh.end();
    }
    // another subject, and the same sub of another provider, are untouched
    expect(await verify(bob)).toEqual({ sub: 'bob' });
    expect(await verify(otherAlice)).toEqual({ sub: 'alice' });
  });

  it('lets tokens issued after the moment pass (the user signs in again), and rejects those before it', async () => {
    await clearRevocations();
    await db.pool.query(`SELECT auth.revoke_subject('idp', 'alice', now() - interval '100 seconds')`);
    expect(await verify(await idp.sign(kid, { sub: 'alice', iat: now() - 101 }))).toMatchObject({ code: 'revoked' });
    expect(await verify(await idp.sign(kid, { sub: 'alice', iat: now() - 99 }))).toEqual({ sub: 'alice' });
    expect(await verify(await idp.sign(kid, { sub: 'alice', iat: now() }))).toEqual({ sub: 'alice' });
  });

  it('rejects a token without iat whose subject has a revocation: it cannot show it is newer', async () => {
    await clearRevocations();
    const noIat = await idp.sign(kid, { sub: 'alice', iat: undefined });
    const bobNoIat = await idp.sign(kid, { sub: 'bob', iat: undefined });
    expect(await verify(noIat)).toEqual({ sub: 'alice' });
    await db.pool.query(`SELECT auth.revoke_subject('idp', 'alice', now() - interval '1 day')`);
    const rejected = await verify(noIat);
    expect(rejected.code).toBe('revoked');
    expect(rejected.detail).toMatch(/no "iat"/);
    expect(await verify(bobNoIat)).toEqual({ sub: 'bob' });
  });

  it('revoking again keeps the later moment', async () => {
    await clearRevocations();
    await db.pool.query(`SELECT auth.revoke_subject('idp', 'alice', now())`);
    await db.pool.query(`SELECT auth.revoke_subject('idp', 'alice', now() - interval '1 hour')`);
    const { rows } = await db.pool.query(`SELECT count(*)::int AS n, bool_and(issued_before > now() - interval '1 minute') AS later FROM auth.revocations`);
    expect(rows[0]).toEqual({ n: 1, later: true });
    expect(await verify(await idp.sign(kid, { sub: 'alice', iat: now() - 30 }))).toMatchObject({ code: 'revoked' });
  });

  it('refuses an unknown provider, an empty or NULL subject, and a NULL moment', async () => {
    for (const [statement, pattern] of [
      [`SELECT auth.revoke_subject('nope', 'alice')`, /no provider named nope/],
      [`SELECT auth.revoke_subject('idp', '')`, /non-empty/],
      [`SELECT auth.revoke_subject('idp', NULL)`, /non-empty/],
      [`SELECT auth.revoke_subject('idp', 'alice', NULL)`, /must not be NULL/],
      [`SELECT auth.revoke_token('idp', repeat('x', 1025))`, /at most 1024 bytes/],
    ] as const) {
      const error = await pgError(db.pool.query(statement));
      expect(error.code, statement).toBe('22023');
      expect(error.message, statement).toMatch(pattern);
    }
  });
});

describe('auth.revoke_token and auth.revoke_session', () => {
  it('reject exactly the tokens with that jti, or that sid, of that provider', async () => {
    await clearRevocations();
    const stolen = await idp.sign(kid, { sub: 'alice', jti: 'jti-1', sid: 'sid-a' });
    const sameUser = await idp.sign(kid, { sub: 'alice', jti: 'jti-2', sid: 'sid-b' });
    const sameSession = await idp.sign(kid, { sub: 'alice', jti: 'jti-3', sid: 'sid-a' });
    const otherProvider = await other.sign(otherKid, { sub: 'alice', jti: 'jti-1', sid: 'sid-b' });
    await db.pool.query(`SELECT auth.revoke_token('idp', 'jti-1')`);
    const byJti = await verify(stolen);
    expect(byJti).toMatchObject({ code: 'revoked' });
    expect(byJti.detail).toMatch(/"jti"/);
    expect(byJti.detail).not.toContain('jti-1');
    expect(await verify(sameUser)).toEqual({ sub: 'alice' });
    expect(await verify(sameSession)).toEqual({ sub: 'alice' });
    expect(await verify(otherProvider)).toEqual({ sub: 'alice' });

    await db.pool.query(`SELECT auth.revoke_session('idp', 'sid-b')`);
    const bySid = await verify(sameUser);
    expect(bySid).toMatchObject({ code: 'revoked' });
    expect(bySid.detail).toMatch(/"sid"/);
    expect(await verify(sameSession)).toEqual({ sub: 'alice' }); // sid-a is not revoked
    expect(await verify(otherProvider)).toEqual({ sub: 'alice' }); // sid-b of another provider
  });
});

describe('the verified-token cache (warm path)', () => {
  it.each([
    ['subject', `SELECT auth.revoke_subject('idp', 'carol')`, { sub: 'carol' }],
    ['token', `SELECT auth.revoke_token('idp', 'warm-jti')`, { sub: 'dave', jti: 'warm-jti' }],
    ['session', `SELECT auth.revoke_session('idp', 'warm-sid')`, { sub: 'erin', sid: 'warm-sid' }],
  ])('a %s revocation rejects a token this backend verified and cached before', async (_kind, revocation, claims) => {
    await clearRevocations();
    const token = await idp.sign(kid, { ...claims, iat: now() - 5 });
    await withPoolClient(db.pool, async (client) => {
      expect(await verify(token, client)).toEqual({ sub: claims.sub });
      expect(await cached(client, token)).toBe(true);
      expect(await verify(token, client)).toEqual({ sub: claims.sub }); // from the cache
      await db.pool.query(revocation); // another connection, another backend
      expect(await cached(client, token)).toBe(true);
      expect(await verify(token, client)).toMatchObject({ code: 'revoked' });
      // and auth.init refuses it too
      const error = await pgError(client.query('SELECT auth.init($1)', [token]));
      expect(error).toMatchObject({ code: '28000', message: 'jwt rejected: revoked' });
    });
  });
});

describe('the revocation epoch: a cached token is probed again after any write to auth.revocations', () => {
  const providerEpoch = async (): Promise<string> =>
    (await db.pool.query(`SELECT revocation_epoch::text AS e FROM auth.providers WHERE name = 'idp'`)).rows[0].e as string;
  const entryOf = async (client: pg.ClientBase, token: string): Promise<string> => {
    const digest = tokenDigest(token);
    return cacheSlot(client, digest);
  };
  const insertFay = `INSERT INTO auth.revocations (provider_id, kind, value, issued_before)
                     SELECT id, 'subject', 'fay', now() FROM auth.providers WHERE name = 'idp'`;

  it.each([
    ['an INSERT that bypasses auth.revoke_*', [insertFay]],
    ['an INSERT as logical replication applies it (session_replication_role = replica)',
      ['SET session_replication_role = replica', insertFay, 'RESET session_replication_role']],
    ['an UPDATE that moves a subject\'s moment later', [
      `INSERT INTO auth.revocations (provider_id, kind, value, issued_before)
       SELECT id, 'subject', 'fay', now() - interval '1 day' FROM auth.providers WHERE name = 'idp'`,
      `UPDATE auth.revocations SET issued_before = now() WHERE value = 'fay'`]],
  ])('%s rejects a cached token at once', async (_how, statements) => {
    await clearRevocations();
    const token = await idp.sign(kid, { sub: 'fay', iat: now() - 5 });
    const client = await db.pool.connect();
    const owner = await db.pool.connect();
    try {
      expect(await verify(token, client)).toEqual({ sub: 'fay' });
      expect(await verify(token, client)).toEqual({ sub: 'fay' }); // from the cache
      const before = await providerEpoch();
      for (const statement of statements) await owner.query(statement);
      expect(BigInt(await providerEpoch())).toBeGreaterThan(BigInt(before));
      expect(await verify(token, client)).toMatchObject({ code: 'revoked' });
    } finally {
      owner.release();
      client.release();
    }
  });

  it('re-seals a cached entry with the new epoch after a revocation of someone else, and keeps accepting the token', async () => {
    await clearRevocations();
    const token = await idp.sign(kid, { sub: 'gus', iat: now() - 5 });
    await withPoolClient(db.pool, async (client) => {
      expect(await verify(token, client)).toEqual({ sub: 'gus' });
      const epoch = await providerEpoch();
      expect((await entryOf(client, token)).endsWith(`|${epoch}`)).toBe(true);
      await db.pool.query(`SELECT auth.revoke_subject('idp', 'somebody-else')`);
      const moved = await providerEpoch();
      expect(moved).not.toBe(epoch);
      expect(await verify(token, client)).toEqual({ sub: 'gus' }); // probed, found nothing
      expect((await entryOf(client, token)).endsWith(`|${moved}`)).toBe(true);
    });
  });

  it('an entry whose epoch a session rewrites to the current one is a miss: the token is probed and rejected', async () => {
    await clearRevocations();
    const token = await idp.sign(kid, { sub: 'hal', iat: now() - 5 });
    await withPoolClient(db.pool, async (client) => {
      expect(await verify(token, client)).toEqual({ sub: 'hal' });
      const entry = await entryOf(client, token);
      await db.pool.query(`SELECT auth.revoke_subject('idp', 'hal')`);
      const forged = entry.replace(/\|\d+$/, `|${await providerEpoch()}`);
      expect(forged).not.toBe(entry);
      const digest = tokenDigest(token);
      await writeCacheSlot(client, digest, forged);
      expect(await verify(token, client)).toMatchObject({ code: 'revoked' });
    });
  });
});

describe('session identities', () => {
  it.each([
    ['subject', `SELECT auth.revoke_subject('idp', 'frank')`, { sub: 'frank' }],
    ['token', `SELECT auth.revoke_token('idp', 'session-jti')`, { sub: 'grace', jti: 'session-jti' }],
    ['session', `SELECT auth.revoke_session('idp', 'session-sid')`, { sub: 'heidi', sid: 'session-sid' }],
  ])('end when their token is revoked (%s): auth.session() and auth.user_id() return NULL', async (_kind, revocation, claims) => {
    await clearRevocations();
    const token = await idp.sign(kid, { ...claims, iat: now() - 5 });
    await onSessionClient(async (client) => {
      await client.query(`SELECT auth.init($1, 'session')`, [token]);
      await client.query('SET ROLE authenticated');
      expect((await client.query('SELECT auth.user_id() AS sub')).rows[0].sub).toBe(claims.sub);
      await db.pool.query(revocation);
      const { rows } = await client.query('SELECT auth.user_id() AS sub, auth.session() AS claims, auth.jwt() AS jwt, auth.uid() AS uid');
      expect(rows[0]).toEqual({ sub: null, claims: null, jwt: null, uid: null });
    });
  });

  it('another user\'s session identity is untouched, and a transaction identity is not re-checked mid-transaction', async () => {
    await clearRevocations();
    await onSessionClient(async (client) => {
      await client.query(`SELECT auth.init($1, 'session')`, [await idp.sign(kid, { sub: 'ivan' })]);
      await db.pool.query(`SELECT auth.revoke_subject('idp', 'judy')`);
      expect((await client.query('SELECT auth.user_id() AS sub')).rows[0].sub).toBe('ivan');
    });
  });
});

describe('a provider\'s maximum token age', () => {
  it('rejects tokens whose iat is older (`expired`, whatever their exp) and tokens without iat (`missing_claim`)', async () => {
    await clearRevocations();
    await db.pool.query(`UPDATE auth.providers SET max_token_age_seconds = 3600 WHERE name = 'idp'`);
    const old = await idp.sign(kid, { sub: 'alice', iat: now() - 3600 - 31, exp: now() + 86400 });
    const young = await idp.sign(kid, { sub: 'alice', iat: now() - 3600 + 60, exp: now() + 86400 });
    const noIat = await idp.sign(kid, { sub: 'alice', iat: undefined });
    const expired = await verify(old);
    expect(expired.code).toBe('expired');
    expect(expired.detail).toMatch(/maximum token age of provider idp \(3600 seconds\)/);
    expect(await verify(young)).toEqual({ sub: 'alice' });
    const missing = await verify(noIat);
    expect(missing.code).toBe('missing_claim');
    expect(missing.detail).toMatch(/"iat" is required/);
    // other providers are not affected
    expect(await verify(await other.sign(otherKid, { sub: 'x', iat: now() - 86400, exp: now() + 60 }))).toEqual({ sub: 'x' });
  });

  it('ends a transaction identity when the token reaches the maximum age, before its exp', async () => {
    await clearRevocations();
    await db.pool.query(`UPDATE auth.providers SET max_token_age_seconds = 2, leeway_seconds = 0 WHERE name = 'idp'`);
    try {
      const token = await idp.sign(kid, { sub: 'alice', iat: now(), exp: now() + 600 });
      const sub = await inRolledBackTransaction(db.pool, async (client) => {
        await client.query('SELECT auth.init($1)', [token]);
        const before = (await client.query('SELECT auth.user_id() AS sub')).rows[0].sub;
        await client.query('SELECT pg_sleep(3.1)');
        return [before, (await client.query('SELECT auth.user_id() AS sub')).rows[0].sub];
      });
      expect(sub).toEqual(['alice', null]);
    } finally {
      await db.pool.query(`UPDATE auth.providers SET leeway_seconds = 30 WHERE name = 'idp'`);
    }
  });

  it('ends a session identity once the maximum age is set lower than its token\'s age', async () => {
    await clearRevocations();
    await onSessionClient(async (client) => {
      await client.query(`SELECT auth.init($1, 'session')`, [await idp.sign(kid, { sub: 'alice', iat: now() - 600 })]);
      expect((await client.query('SELECT auth.user_id() AS sub')).rows[0].sub).toBe('alice');
      await db.pool.query(`UPDATE auth.providers SET max_token_age_seconds = 60 WHERE name = 'idp'`);
      expect((await client.query('SELECT auth.user_id() AS sub')).rows[0].sub).toBeNull();
    });
  });
});

describe('auth.prune_revocations', () => {
  it('removes only the entries no unexpired token can match, and keeps those of providers without a maximum age', async () => {
    await clearRevocations();
    await db.pool.query(`UPDATE auth.providers SET max_token_age_seconds = 3600 WHERE name = 'idp'`);
    await db.pool.query(`
      SELECT auth.revoke_subject('idp', 'dead-subject', now() - interval '2 hours');
      SELECT auth.revoke_subject('idp', 'live-subject', now() - interval '10 minutes');
      SELECT auth.revoke_subject('idp', 'edge-subject', now() - interval '3600 seconds');  -- within the leeway
      SELECT auth.revoke_token('idp', 'dead-jti');
      SELECT auth.revoke_token('idp', 'live-jti');
      SELECT auth.revoke_session('idp', 'dead-sid');
      SELECT auth.revoke_subject('other', 'old-subject', now() - interval '1 year');
      UPDATE auth.revocations SET revoked_at = now() - interval '2 hours' WHERE value IN ('dead-jti', 'dead-sid');`);
    // before pruning: a token a dead entry matches is rejected anyway, by the maximum age
    const deadJti = await idp.sign(kid, { sub: 'alice', jti: 'dead-jti', iat: now() - 7201, exp: now() + 86400 });
    expect(await verify(deadJti)).toMatchObject({ code: 'expired' });
    const { rows } = await db.pool.query('SELECT auth.prune_revocations() AS removed');
    expect(Number(rows[0].removed)).toBe(3);
    const left = await db.pool.query('SELECT value FROM auth.revocations ORDER BY value');
    expect(left.rows.map((row) => row.value)).toEqual(['edge-subject', 'live-jti', 'live-subject', 'old-subject']);
    // and what is left still rejects
    expect(await verify(await idp.sign(kid, { sub: 'live-subject', iat: now() - 3000 }))).toMatchObject({ code: 'revoked' });
    expect(await verify(await other.sign(otherKid, { sub: 'old-subject', iat: now() - 366 * 86400, exp: now() + 60 }))).toMatchObject({ code: 'revoked' });
    // a second run finds nothing more
    expect(Number((await db.pool.query('SELECT auth.prune_revocations() AS removed')).rows[0].removed)).toBe(0);
  });
});

describe('only the schema owner', () => {
  it.each(['authenticated', 'anonymous'])('%s can neither revoke, prune nor read or change the entries', async (role) => {
    await clearRevocations();
    await db.pool.query(`SELECT auth.revoke_subject('idp', 'secret-subject')`);
    for (const statement of [
      `SELECT auth.revoke_subject('idp', 'alice')`,
      `SELECT auth.revoke_subject('idp', 'alice', now())`,
      `SELECT auth.revoke_token('idp', 'x')`,
      `SELECT auth.revoke_session('idp', 'x')`,
      'SELECT auth.prune_revocations()',
      'SELECT * FROM auth.revocations',
      'DELETE FROM auth.revocations',
      `INSERT INTO auth.revocations (provider_id, kind, value) VALUES (1, 'token', 'x')`,
      `SELECT auth._revocation(1, '{"sub": "secret-subject"}')`,
      `SELECT auth._session_revoked(1, '{"sub": "secret-subject"}')`,
    ]) {
      const error = await inRolledBackTransaction(db.pool, async (client) => {
        await client.query(`SET LOCAL ROLE ${role}`);
        return pgError(client.query(statement));
      });
      expect(error.code, statement).toBe('42501');
    }
    const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM auth.revocations`);
    expect(rows[0].n).toBe(1);
  });

  it('a member of pg_read_all_data does not see who was revoked (row-level security)', async () => {
    await clearRevocations();
    await db.pool.query(`SELECT auth.revoke_subject('idp', 'secret-subject')`);
    await db.pool.query(`CREATE ROLE ${READER} NOLOGIN IN ROLE pg_read_all_data`);
    const count = await inRolledBackTransaction(db.pool, async (client) => {
      await client.query(`SET LOCAL ROLE ${READER}`);
      return (await client.query('SELECT count(*)::int AS n FROM auth.revocations')).rows[0].n;
    });
    expect(count).toBe(0);
  });

  it('verification with revocations still writes nothing (no transaction id), so it works on a standby', async () => {
    await clearRevocations();
    await db.pool.query(`SELECT auth.revoke_subject('idp', 'alice', now() - interval '1 hour')`);
    await db.pool.query(`UPDATE auth.providers SET max_token_age_seconds = 3600 WHERE name = 'idp'`);
    const token = await idp.sign(kid, { sub: 'alice', jti: 'j', sid: 's' });
    const xid = await inRolledBackTransaction(db.pool, async (client) => {
      await client.query('SET LOCAL ROLE authenticated');
      await client.query('SELECT auth.verify($1)', [token]);
      await client.query(`SELECT auth.init($1, 'session')`, [token]);
      await client.query('SELECT auth.user_id(), auth.session()');
      await client.query('SAVEPOINT s');
      const tooOld = await pgError(client.query('SELECT auth.verify($1)', [await idp.sign(kid, { sub: 'alice', iat: now() - 7200 })]));
      expect(tooOld.message).toBe('jwt rejected: expired');
      await client.query('ROLLBACK TO SAVEPOINT s');
      return (await client.query('SELECT pg_current_xact_id_if_assigned() AS xid')).rows[0].xid;
    });
    expect(xid).toBeNull();
  });
});
