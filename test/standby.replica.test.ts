// authdb on a read-only hot standby (security model §7: verification never writes). A primary is
// provisioned (migrations, a provider, keys, an RLS-protected table), a streaming replica is made
// from it, and verification, identity and RLS are exercised on the replica.
// By default both run on Debian's PostgreSQL 15 server package and the replica is made with
// pg_basebackup -R. In the version matrix (AUTHDB_TEST_PG_MAJOR) they run on that major's embedded
// binaries, which lack pg_basebackup, so the replica starts from a cold copy of the primary instead.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withAuth } from '../src/with-auth.js';
import { pgError } from './support/db.js';
import { createStandbyPair, destroyStandbyPair, type StandbyPair, standbySupport, waitForReplay } from './support/server.js';
import { TestIssuer } from './support/tokens.js';
import { cacheSlot, tokenDigest } from './support/vcache.js';

const { major, available } = standbySupport('standby tests');

let pair: StandbyPair | undefined;
let primaryPool: pg.Pool;
let standbyPool: pg.Pool;
let issuer: TestIssuer;
let edKid: string;

beforeAll(async () => {
  if (!available) return;
  pair = await createStandbyPair({
    standbyPoolMax: 2,
    provision: async (pool) => {
      issuer = await TestIssuer.create(pool, 'idp');
      await issuer.hs256({ sub: 'nobody' }); // registers the HS256 key
      edKid = await issuer.addKey('EdDSA');
      await pool.query(`
        CREATE TABLE public.notes (id serial PRIMARY KEY, owner text NOT NULL, body text NOT NULL);
        ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
        CREATE POLICY notes_owner ON public.notes FOR SELECT TO authenticated USING (owner = (SELECT auth.user_id()));
        GRANT SELECT ON public.notes TO authenticated;
        INSERT INTO public.notes (owner, body) VALUES ('alice', 'alice 1'), ('bob', 'bob 1'), ('alice', 'alice 2');
      `);
    },
  });
  ({ primaryPool, standbyPool } = pair);
  // a row written after the base backup reaches the standby only by streaming replication
  await primaryPool.query(`INSERT INTO public.notes (owner, body) VALUES ('bob', 'bob streamed')`);
  await waitForReplay(async () =>
    (await standbyPool.query(`SELECT count(*)::int AS n FROM public.notes WHERE body = 'bob streamed'`)).rows[0].n === 1);
}, 180_000);

afterAll(async () => {
  await destroyStandbyPair(pair);
});

describe.skipIf(!available)('a streaming hot standby', () => {
  it('is a read-only streaming replica', async () => {
    const { rows } = await standbyPool.query('SELECT pg_is_in_recovery() AS recovery, current_setting($1) AS version', ['server_version_num']);
    expect(rows[0].recovery).toBe(true);
    if (major !== undefined) expect(Math.floor(Number(rows[0].version) / 10000)).toBe(major);
    const senders = await primaryPool.query(`SELECT state FROM pg_stat_replication`);
    expect(senders.rows.map((row) => row.state)).toEqual(['streaming']);
    const error = await pgError(standbyPool.query(`INSERT INTO public.notes (owner, body) VALUES ('x', 'y')`));
    expect(error.code).toBe('25006'); // read_only_sql_transaction
  });

  it('auth.verify accepts a valid token and rejects a bad one on the standby', async () => {
    const hs = await issuer.hs256({ sub: 'alice' });
    const ed = await issuer.sign(edKid, { sub: 'bob' });
    const { rows } = await standbyPool.query('SELECT auth.verify($1) AS a, auth.verify($2) AS b', [hs, ed]);
    expect(rows[0].a.sub).toBe('alice');
    expect(rows[0].b.sub).toBe('bob');
    const forged = `${ed.slice(0, ed.lastIndexOf('.'))}.${Buffer.alloc(64).toString('base64url')}`;
    const error = await pgError(standbyPool.query('SELECT auth.verify($1)', [forged]));
    expect(error).toMatchObject({ code: '28000', message: 'jwt rejected: bad_signature' });
  });

  it('auth.init and auth.user_id work in a read-only transaction as authenticated', async () => {
    const token = await issuer.hs256({ sub: 'alice' });
    // withAuth, as an application runs each request; on a standby every transaction is read-only
    const who = await withAuth(standbyPool, token, async (client) =>
      (await client.query(`SELECT auth.user_id() AS sub, current_user AS role, pg_is_in_recovery() AS recovery,
                                  current_setting('transaction_read_only') AS read_only`)).rows[0]);
    expect(who).toEqual({ sub: 'alice', role: 'authenticated', recovery: true, read_only: 'on' });
  });

  it('RLS shows each user only their own rows on the standby', async () => {
    const alice = await issuer.hs256({ sub: 'alice' });
    const bob = await issuer.sign(edKid, { sub: 'bob' });
    const bodies = async (token: string) => withAuth(standbyPool, token, async (client) =>
      (await client.query('SELECT body FROM public.notes ORDER BY id')).rows.map((row) => row.body as string));
    expect(await bodies(alice)).toEqual(['alice 1', 'alice 2']);
    expect(await bodies(bob)).toEqual(['bob 1', 'bob streamed']);
    // without an identity, the policy shows nothing
    const client = await standbyPool.connect();
    try {
      await client.query('BEGIN READ ONLY');
      await client.query('SET LOCAL ROLE authenticated');
      expect((await client.query('SELECT count(*)::int AS n FROM public.notes')).rows[0].n).toBe(0);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
  });

  it('neither auth.init nor auth.verify writes: no transaction id is assigned, even on the primary', async () => {
    const token = await issuer.sign(edKid, { sub: 'carol' });
    const client = await primaryPool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SET LOCAL ROLE authenticated');
      await client.query('SELECT auth.verify($1)', [token]);
      await client.query('SELECT auth.init($1)', [token]);
      await client.query('SELECT auth.user_id(), auth.session(), auth.uid()');
      const { rows } = await client.query('SELECT pg_current_xact_id_if_assigned() AS xid');
      expect(rows[0].xid).toBeNull();
      await client.query('COMMIT');
    } finally {
      client.release();
    }
  });

  it('the verified-token cache works on the standby: same claims, cached, and cheaper the second time', async () => {
    const client = await standbyPool.connect();
    const timed = async (token: string) => {
      const started = process.hrtime.bigint();
      const { rows } = await client.query('SELECT auth.verify($1) AS claims', [token]);
      return { claims: rows[0].claims as Record<string, unknown>, ms: Number(process.hrtime.bigint() - started) / 1e6 };
    };
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    try {
      const firstMs: number[] = [];
      const cachedMs: number[] = [];
      for (const sub of ['dave', 'erin', 'frank']) {
        const token = await issuer.sign(edKid, { sub });
        const digest = tokenDigest(token);
        const entry = () => cacheSlot(client, digest);
        expect(await entry()).not.toContain(digest.toString('hex'));
        const first = await timed(token);
        firstMs.push(first.ms);
        expect(first.claims.sub).toBe(sub);
        // the backend now holds this token's sealed cache entry, although the standby is read-only
        expect((await entry()).startsWith(`${digest.toString('hex')}|`)).toBe(true);
        for (let i = 0; i < 3; i++) {
          const again = await timed(token);
          cachedMs.push(again.ms);
          expect(again.claims).toEqual(first.claims);
        }
      }
      console.log(`standby: EdDSA verify ${median(firstMs).toFixed(2)} ms uncached, `
        + `${median(cachedMs).toFixed(2)} ms cached (medians, round trip included)`);
      expect(median(cachedMs)).toBeLessThan(median(firstMs));
    } finally {
      client.release();
    }
  });
});
