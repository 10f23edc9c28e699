// The sealing secret and the verified-token cache (docs/security.md §2, §10, §11): rotation, what a
// dumped secret can do before and after it, who can read the secret, what the cache leaves behind,
// and seals that do not depend on formatting settings.
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { base64url } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgError, type TestDatabase, withCleanConnection } from './support/db.js';
import { databaseWithIssuer, rawToken, TestIssuer } from './support/tokens.js';
import { cacheEntries, tokenDigest, writeCacheSlot } from './support/vcache.js';

let db: TestDatabase;
let issuer: TestIssuer;

beforeAll(async () => ({ db, issuer } = await databaseWithIssuer()));
afterAll(async () => db?.drop());

const withConnection = <T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> => withCleanConnection(db.pool, fn);

interface Secret {
  ipad: Buffer;
  opad: Buffer;
  generation: string;
}

/** What a reader of a dump of the migrate install gets: the secret's row. */
async function dumpedSecret(): Promise<Secret> {
  const { rows } = await db.pool.query('SELECT ipad_key, opad_key, generation::text FROM auth.seal_secret');
  return { ipad: rows[0].ipad_key, opad: rows[0].opad_key, generation: rows[0].generation };
}

/** HMAC-SHA256 from the stored padded keys (RFC 2104 §2), in the stored `<generation>:<hex>` form. */
function seal(secret: Secret, label: string, message: string): string {
  const inner = createHash('sha256').update(Buffer.concat([secret.ipad, Buffer.from(`${label}\n${message}`, 'utf8')])).digest();
  return `${secret.generation}:${createHash('sha256').update(Buffer.concat([secret.opad, inner])).digest('hex')}`;
}

/** Everything an attacker can learn about a backend: pid, server start, backend start (from monitoring). */
async function bindingOf(client: pg.ClientBase) {
  const pid = (await client.query('SELECT pg_backend_pid() AS pid, extract(epoch FROM pg_postmaster_start_time())::text AS pm')).rows[0];
  const start = (await db.pool.query('SELECT extract(epoch FROM backend_start)::text AS s FROM pg_stat_activity WHERE pid = $1', [pid.pid])).rows[0].s;
  return { pid: String(pid.pid), postmaster: pid.pm as string, backendStart: start as string };
}

/** A forged cache entry for `token`: "this token verified with key `keyId`". */
async function forgeCacheEntry(client: pg.ClientBase, secret: Secret, token: string, keyId: string) {
  const digest = tokenDigest(token);
  const b = await bindingOf(client);
  const hex = digest.toString('hex');
  // the provider's current revocation epoch, as the owner's dump (or a look at the table) tells
  const epoch = (await db.pool.query('SELECT p.revocation_epoch::text AS e FROM auth.keys AS k JOIN auth.providers AS p ON p.id = k.provider_id WHERE k.id = $1', [keyId])).rows[0].e as string;
  // no moment of expiry (the attacker's choice): `digest|seal|key id|valid until|epoch`
  const entry = `${hex}|${seal(secret, 'vcache', `${hex}|${keyId}||${epoch}|${b.pid}|${b.postmaster}`)}|${keyId}||${epoch}`;
  await writeCacheSlot(client, digest, entry);
}

/** A forged transaction identity, computed as auth.init would. */
async function forgeIdentity(client: pg.ClientBase, secret: Secret, keyId: string, claims: object) {
  const b = await bindingOf(client);
  const now = (await client.query('SELECT extract(epoch FROM now())::text AS now')).rows[0].now as string;
  // the layout of sql/functions/80_identity.sql: scope|valid until|key id|seal|user id|prefix|claims
  const head = `t|9999999999|${keyId}`;
  const body = `${(claims as { sub?: string }).sub ?? ''}||${JSON.stringify(claims)}`;
  const value = `${head}|${seal(secret, 'identity', `${head}|${b.pid}|${b.postmaster}|${now}|${body}`)}|${body}`;
  await client.query("SELECT set_config('authdb.identity', $1, true)", [value]);
}

describe('a dumped sealing secret, before and after auth.rotate_seal_secret()', () => {
  it('forges a cache entry and an identity for a role holding only authenticated until rotated; then neither works', async () => {
    await issuer.hs256();
    const keyId = String((await db.pool.query("SELECT id FROM auth.keys WHERE kid = 'hs256-default'")).rows[0].id);
    const stolen = await dumpedSecret();
    const admin = { sub: 'alice', roles: ['admin'], iss: issuer.issuer, aud: 'api', exp: 9999999999 };
    // a token nobody signed: any header and payload, a zero signature
    const unsigned = rawToken({ alg: 'HS256', kid: 'hs256-default' }, admin, base64url.encode(Buffer.alloc(32)));

    const attack = () =>
      withConnection(async (client) => {
        await client.query('BEGIN');
        await client.query('SET LOCAL ROLE authenticated');
        await forgeCacheEntry(client, stolen, unsigned, keyId);
        const viaCache = await client.query('SELECT auth.init($1) AS claims', [unsigned]).then(
          (r) => r.rows[0].claims as Record<string, unknown>,
          (e: Error) => e.message,
        );
        await client.query('ROLLBACK');
        await client.query('BEGIN');
        await client.query('SET LOCAL ROLE authenticated');
        await forgeIdentity(client, stolen, keyId, admin);
        const viaIdentity = await client.query('SELECT auth.user_id() AS sub').then(
          (r) => r.rows[0].sub as string | null,
          (e: Error) => e.message,
        );
        return { viaCache, viaIdentity };
      });

    // the attack is real while the secret is the dumped one
    const before = await attack();
    expect(before.viaCache).toMatchObject({ sub: 'alice', roles: ['admin'] });
    expect(before.viaIdentity).toBe('alice');

    await db.pool.query('SELECT auth.rotate_seal_secret()');
    const after = await attack();
    expect(after.viaCache).toBe('jwt rejected: bad_signature');
    expect(after.viaIdentity).toBeNull(); // an old-generation seal reads as no identity
    // a forgery that claims the current generation is tampering, and raises
    const forgedCurrent = await withConnection(async (client) => {
      await client.query('BEGIN');
      await client.query('SET LOCAL ROLE authenticated');
      await forgeIdentity(client, { ...stolen, generation: (await dumpedSecret()).generation }, keyId, admin);
      return pgError(client.query('SELECT auth.user_id()'));
    });
    expect(forgedCurrent.code).toBe('28000');
  });

  it('ends every identity sealed before, in other backends too: it reads as none, not as tampering', async () => {
    await withConnection(async (client) => {
      await client.query(`SELECT auth.init($1, 'session')`, [await issuer.hs256({ sub: 'carol' })]);
      expect((await client.query('SELECT auth.user_id() AS sub')).rows[0].sub).toBe('carol');
      const generation = Number((await dumpedSecret()).generation);
      await db.pool.query('SELECT auth.rotate_seal_secret()');
      expect(Number((await dumpedSecret()).generation)).toBe(generation + 1);
      expect((await client.query('SELECT auth.user_id() AS sub, auth.session() AS s')).rows[0]).toEqual({ sub: null, s: null });
      // the next auth.init works as usual under the new secret
      await client.query(`SELECT auth.init($1, 'session')`, [await issuer.hs256({ sub: 'carol' })]);
      expect((await client.query('SELECT auth.user_id() AS sub')).rows[0].sub).toBe('carol');
    });
  });

  it('is the owner\'s: the auth roles cannot call it', async () => {
    for (const role of ['authenticated', 'anonymous']) {
      const error = await withConnection(async (client) => {
        await client.query('BEGIN');
        await client.query(`SET LOCAL ROLE ${role}`);
        return pgError(client.query('SELECT auth.rotate_seal_secret()'));
      });
      expect(error.code).toBe('42501');
    }
  });

  it('fails closed, with a clear message, when the secret is missing (a restore that left it out)', async () => {
    await withConnection(async (client) => {
      await client.query('BEGIN');
      await client.query('DELETE FROM auth.seal_secret');
      await client.query('SAVEPOINT before_init');
      const error = await pgError(client.query('SELECT auth.init($1)', [await issuer.hs256({ sub: 'dan' })]));
      expect(error.code).toBe('55000');
      expect(error.message).toBe('authdb has no sealing secret');
      // rotating creates one
      await client.query('ROLLBACK TO SAVEPOINT before_init');
      await client.query('SELECT auth.rotate_seal_secret()');
      expect((await client.query('SELECT auth.init($1) ->> $2 AS sub', [await issuer.hs256({ sub: 'dan' }), 'sub'])).rows[0].sub).toBe('dan');
    });
  });
});

describe('who can read the secret', () => {
  const reader = `authdb_reader_${process.pid}`;
  afterAll(async () => {
    await db.pool.query(`DROP ROLE IF EXISTS ${reader}`);
  });

  it('a member of pg_read_all_data reads no row of auth.seal_secret or auth.hmac_keys', async () => {
    await issuer.hs256();
    await db.pool.query(`CREATE ROLE ${reader} NOLOGIN; GRANT pg_read_all_data TO ${reader}`);
    const seen = await withConnection(async (client) => {
      await client.query('BEGIN');
      await client.query(`SET LOCAL ROLE ${reader}`);
      const secret = await client.query('SELECT count(*)::int AS n FROM auth.seal_secret');
      const hmac = await client.query('SELECT count(*)::int AS n FROM auth.hmac_keys');
      const keys = await client.query('SELECT count(*)::int AS n FROM auth.keys'); // public keys stay readable
      return { secret: secret.rows[0].n, hmac: hmac.rows[0].n, keys: keys.rows[0].n };
    });
    expect(seen.secret).toBe(0);
    expect(seen.hmac).toBe(0);
    expect(seen.keys).toBeGreaterThan(0);
    // the owner still has both
    expect((await db.pool.query('SELECT count(*)::int AS n FROM auth.seal_secret')).rows[0].n).toBe(1);
  });
});

describe('the verified-token cache leaves nothing personal behind (security model §10)', () => {
  it('a later request on the connection finds no claims of earlier users in any setting', async () => {
    await withConnection(async (client) => {
      for (const [sub, email, tenant] of [['u-one', 'one@example.com', 'acme'], ['u-two', 'two@example.com', 'globex']]) {
        await client.query('BEGIN');
        await client.query('SET LOCAL ROLE authenticated');
        await client.query('SELECT auth.init($1)', [await issuer.hs256({ sub, email, tenant_id: tenant, roles: ['admin'] })]);
        await client.query('COMMIT');
      }
      await client.query('BEGIN');
      await client.query('SET LOCAL ROLE authenticated');
      const cache = (await cacheEntries(client)).join('\n');
      const { rows } = await client.query(`SELECT current_setting('authdb.identity', true) AS identity`);
      expect(cache).toMatch(/^[0-9a-f]{64}\|/m); // the cache is in use...
      for (const personal of ['u-one', 'one@example.com', 'acme', 'u-two', 'two@example.com', 'globex', 'admin', '{']) {
        expect(cache).not.toContain(personal); // ...and holds digests, seals and key ids only
      }
      expect(rows[0].identity ?? '').toBe('');
    });
  });

  it('a cached token still gets its claims, the allow-list, and key status checked on every hit', async () => {
    const token = await issuer.hs256({ sub: 'hit', email: 'hit@example.com' });
    await withConnection(async (client) => {
      const first = (await client.query('SELECT auth.verify($1) AS c', [token])).rows[0].c;
      const again = (await client.query('SELECT auth.verify($1) AS c', [token])).rows[0].c;
      expect(again).toEqual(first);
      expect(again.email).toBe('hit@example.com');
      // security model §1: the provider stops allowing HS256; the cached token is rejected
      await db.pool.query(`UPDATE auth.providers SET algorithms = ARRAY['RS256'] WHERE name = 'idp'`);
      try {
        expect((await pgError(client.query('SELECT auth.verify($1)', [token]))).message).toBe('jwt rejected: unsupported_algorithm');
      } finally {
        await db.pool.query(`UPDATE auth.providers SET algorithms = NULL WHERE name = 'idp'`);
      }
      expect((await client.query('SELECT auth.verify($1) ->> $2 AS sub', [token, 'sub'])).rows[0].sub).toBe('hit');
    });
  });

  it('a cached token whose key was removed is verified from scratch: rejected while gone, accepted once registered again', async () => {
    const local = await TestIssuer.create(db.pool, 'replaced');
    const kid = await local.addKey('ES256');
    const token = await local.sign(kid, { sub: 'rita' });
    await withConnection(async (client) => {
      expect((await client.query('SELECT auth.verify($1) ->> $2 AS sub', [token, 'sub'])).rows[0].sub).toBe('rita');
      await db.pool.query('DELETE FROM auth.keys WHERE kid = $1', [kid]);
      expect((await pgError(client.query('SELECT auth.verify($1)', [token]))).message).toBe('jwt rejected: unknown_key');
      // the same key registered again gets a new id: the stale cache entry must not keep rejecting it
      await db.pool.query('SELECT auth.add_key($1, $2::jsonb)', ['replaced', JSON.stringify(local.key(kid).jwk)]);
      expect((await client.query('SELECT auth.verify($1) ->> $2 AS sub', [token, 'sub'])).rows[0].sub).toBe('rita');
    });
  });
});

describe('seals do not depend on formatting settings (security model §11)', () => {
  it('TimeZone, DateStyle, IntervalStyle and a function SET clause leave the identity intact', async () => {
    await db.pool.query(`
      CREATE OR REPLACE FUNCTION public.user_in_tokyo() RETURNS text LANGUAGE sql SET timezone = 'Asia/Tokyo' AS 'SELECT auth.user_id()';
      CREATE OR REPLACE FUNCTION public.user_in_german_dates() RETURNS text LANGUAGE sql SET datestyle = 'German, DMY' AS 'SELECT auth.user_id()';
      GRANT EXECUTE ON FUNCTION public.user_in_tokyo(), public.user_in_german_dates() TO authenticated;`);
    for (const scope of ['transaction', 'session']) {
      await withConnection(async (client) => {
        await client.query("SET timezone = 'UTC'; SET datestyle = 'ISO, MDY'; SET intervalstyle = 'postgres'");
        await client.query('BEGIN');
        await client.query('SET LOCAL ROLE authenticated');
        await client.query('SELECT auth.init($1, $2)', [await issuer.hs256({ sub: 'yuki' }), scope]);
        for (const setting of [
          "SET LOCAL timezone = 'Asia/Tokyo'",
          "SET LOCAL timezone = 'America/St_Johns'",
          "SET LOCAL datestyle = 'SQL, DMY'",
          "SET LOCAL datestyle = 'Postgres, YMD'",
          "SET LOCAL intervalstyle = 'iso_8601'",
          "SET LOCAL extra_float_digits = -15",
        ]) {
          await client.query(setting);
          expect((await client.query('SELECT auth.user_id() AS sub')).rows[0].sub, setting).toBe('yuki');
        }
        const viaFunctions = await client.query('SELECT public.user_in_tokyo() AS a, public.user_in_german_dates() AS b');
        expect(viaFunctions.rows[0]).toEqual({ a: 'yuki', b: 'yuki' });
        await client.query('COMMIT');
        if (scope === 'session') {
          await client.query("SET timezone = 'Pacific/Kiritimati'");
          expect((await client.query('SELECT auth.user_id() AS sub')).rows[0].sub).toBe('yuki');
        }
      });
    }
  });
});

describe('a session identity and its key', () => {
  it('ends when its key is revoked (or retired past its grace), without waiting for exp', async () => {
    const local = await TestIssuer.create(db.pool, 'revoking');
    const kid = await local.addKey('HS256', 'soon-revoked');
    await withConnection(async (client) => {
      await client.query(`SELECT auth.init($1, 'session')`, [await local.sign(kid, { sub: 'ivan' })]);
      expect((await client.query('SELECT auth.user_id() AS sub')).rows[0].sub).toBe('ivan');
      await db.pool.query(`UPDATE auth.keys SET status = 'revoked', revoked_at = now() WHERE kid = 'soon-revoked'`);
      expect((await client.query('SELECT auth.user_id() AS sub, auth.session() AS s')).rows[0]).toEqual({ sub: null, s: null });
      // and its token no longer verifies, cached or not
      expect((await pgError(client.query('SELECT auth.verify($1)', [await local.sign(kid, { sub: 'ivan' })]))).message).toBe('jwt rejected: key_revoked');
    });
  });
});
