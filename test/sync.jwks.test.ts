// JWKS sync end to end: a real HTTP server on 127.0.0.1, real Postgres, tokens checked by auth.verify.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { addProvider } from '../src/providers/add.js';
import { getProvider } from '../src/sync/state.js';
import { syncProvider, syncProviders, type SyncResult } from '../src/sync.js';
import { pgError, type TestDatabase, withPoolClient } from './support/db.js';
import { closeJwksFixture, FAST_FETCH, jwks, type JwksServer, openJwksFixture, servedKey } from './support/jwks-server.js';

let db: TestDatabase;
let server: JwksServer;
let counter = 0;

beforeAll(async () => ({ db, server } = await openJwksFixture()));
afterAll(async () => closeJwksFixture({ db, server }));


const withClient = <T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> => withPoolClient(db.pool, work);

/** A provider served at its own path, registered with the given first key set. */
async function newProvider(keys: ReturnType<typeof jwks>, options: { grace?: number } = {}) {
  counter += 1;
  const name = `p${counter}`;
  const path = `/${name}/jwks.json`;
  const issuer = `https://${name}.test`;
  server.set(path, { kind: 'json', body: keys, etag: `"${name}-v1"`, maxAge: 600 });
  await withClient((client) =>
    addProvider(client, { name, issuer, jwksUrl: server.url(path), audiences: ['api'], graceSeconds: options.grace, fetch: FAST_FETCH }),
  );
  return { name, path, issuer };
}

const sync = (name: string, force = true): Promise<SyncResult> =>
  withClient(async (client) => syncProvider(client, await getProvider(client, name), { force, fetch: FAST_FETCH }));

async function verify(token: string): Promise<{ ok: true; sub: string } | { ok: false; message: string }> {
  try {
    const { rows } = await db.pool.query('SELECT auth.verify($1) AS claims', [token]);
    return { ok: true, sub: rows[0].claims.sub };
  } catch (error) {
    return { ok: false, message: (error as Error).message };
  }
}

async function keyRows(name: string) {
  const { rows } = await db.pool.query(
    `SELECT k.kid, k.alg, k.status, k.verify_until, k.thumbprint FROM auth.keys k JOIN auth.providers p ON p.id = k.provider_id
      WHERE p.name = $1 ORDER BY k.kid, k.alg`,
    [name],
  );
  return rows as { kid: string; alg: string; status: string; verify_until: Date | null; thumbprint: string }[];
}

describe('rotation', () => {
  it('adds a new key, retires a removed one for the grace period, and revocation is immediate', async () => {
    const k1 = servedKey('k1');
    const k2 = servedKey('k2');
    const { name, path, issuer } = await newProvider(jwks(k1), { grace: 3600 });
    const claims = { iss: issuer, aud: 'api' };
    const t1 = await k1.sign(claims);
    const t2 = await k2.sign(claims);
    expect(await verify(t1)).toEqual({ ok: true, sub: 'alice' });
    expect(await verify(t2)).toMatchObject({ ok: false, message: 'jwt rejected: unknown_key' });

    // rotation: k2 published, k1 withdrawn
    server.set(path, { kind: 'json', body: jwks(k2), etag: '"v2"', maxAge: 600 });
    const result = await sync(name);
    expect(result).toMatchObject({ ok: true, outcome: 'updated', added: 1, retired: 1, unchanged: 0 });
    expect(await verify(t2)).toEqual({ ok: true, sub: 'alice' });
    // the retired key keeps verifying during its grace period…
    expect(await verify(t1)).toEqual({ ok: true, sub: 'alice' });
    const retired = (await keyRows(name)).find((row) => row.kid === 'k1')!;
    expect(retired.status).toBe('retired');
    expect(retired.verify_until!.getTime()).toBeGreaterThan(Date.now() + 3500_000);
    // …and stops after it
    await db.pool.query("UPDATE auth.keys SET verify_until = now() - interval '1 second' WHERE kid = 'k1'");
    expect(await verify(t1)).toMatchObject({ ok: false, message: 'jwt rejected: unknown_key' });

    // revocation of the active key is immediate
    await db.pool.query('SELECT auth.revoke_key($1, $2)', ['k2', name]);
    expect(await verify(t2)).toMatchObject({ ok: false, message: 'jwt rejected: key_revoked' });
    // and a sync that still lists k2 does not bring it back
    const again = await sync(name);
    expect(again.ok).toBe(false); // k2 is the only key and it is revoked: no usable key
    expect((await keyRows(name)).find((row) => row.kid === 'k2')!.status).toBe('revoked');
  });

  it('a zero grace period stops a removed key at once; a key that reappears is restored', async () => {
    const a = servedKey('a');
    const b = servedKey('b');
    const { name, path, issuer } = await newProvider(jwks(a, b), { grace: 0 });
    const ta = await a.sign({ iss: issuer, aud: 'api' });
    server.set(path, { kind: 'json', body: jwks(b), maxAge: 600 });
    expect(await sync(name)).toMatchObject({ ok: true, retired: 1, unchanged: 1 });
    expect(await verify(ta)).toMatchObject({ ok: false, message: 'jwt rejected: unknown_key' });
    server.set(path, { kind: 'json', body: jwks(a, b), maxAge: 600 });
    expect(await sync(name)).toMatchObject({ ok: true, restored: 1, unchanged: 1, added: 0 });
    expect(await verify(ta)).toEqual({ ok: true, sub: 'alice' });
    expect((await keyRows(name)).map((row) => row.status)).toEqual(['active', 'active']);
  });

  it('a kid reused with new material replaces the old key; tokens of the old material stop verifying', async () => {
    const old = servedKey('same');
    const fresh = servedKey('same');
    const { name, path, issuer } = await newProvider(jwks(old));
    const tOld = await old.sign({ iss: issuer, aud: 'api' });
    server.set(path, { kind: 'json', body: jwks(fresh), maxAge: 600 });
    expect(await sync(name)).toMatchObject({ ok: true, added: 1, replaced: 1, retired: 0 });
    const rows = await keyRows(name);
    expect(rows).toHaveLength(1);
    expect(await verify(await fresh.sign({ iss: issuer, aud: 'api' }))).toEqual({ ok: true, sub: 'alice' });
    expect(await verify(tOld)).toMatchObject({ ok: false, message: 'jwt rejected: bad_signature' });
  });

  it('keys without kid: several per algorithm, told apart by thumbprint', async () => {
    const a = servedKey('x');
    const b = servedKey('y');
    const noKid = (key: ReturnType<typeof servedKey>) => Object.fromEntries(Object.entries(key.jwk).filter(([m]) => m !== 'kid'));
    const { name } = await newProvider(jwks(noKid(a), noKid(b)));
    const rows = await keyRows(name);
    expect(rows.map((row) => row.kid)).toEqual([null, null]);
    expect(await sync(name)).toMatchObject({ ok: true, added: 0, unchanged: 2 });
  });
});

describe('failures keep the keys exactly as they were', () => {
  const cases: [string, Parameters<JwksServer['set']>[1], RegExp][] = [
    ['HTTP 500, after retries', { kind: 'status', status: 500 }, /HTTP 500 \(after 3 attempts\)/],
    ['HTTP 404', { kind: 'status', status: 404 }, /HTTP 404/],
    ['invalid JSON', { kind: 'raw', body: '{"keys": [' }, /not valid JSON/],
    ['not a key set', { kind: 'raw', body: '{"hello": 1}' }, /no "keys" array/],
    ['an empty key set', { kind: 'json', body: { keys: [] } }, /empty/],
    ['only unusable keys', { kind: 'json', body: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }, { kty: 'RSA', use: 'enc', n: 'AQAB', e: 'AQAB' }] } }, /no usable key/],
    ['a body over 1 MiB (declared)', { kind: 'huge', bytes: 2 * 1024 * 1024, declareLength: true }, /over the 1048576-byte cap/],
    ['a body over 1 MiB (streamed, no length)', { kind: 'huge', bytes: 2 * 1024 * 1024, declareLength: false }, /over the 1048576-byte cap/],
    ['a server that never answers', { kind: 'hang' }, /no complete response within 1500 ms/],
    ['a slow drip past the total timeout', { kind: 'drip', intervalMs: 100, chunks: 100 }, /no complete response within 1500 ms/],
  ];
  for (const [label, behaviour, expected] of cases) {
    it(label, async () => {
      const key = servedKey('keep');
      const { name, path, issuer } = await newProvider(jwks(key));
      const before = await keyRows(name);
      server.set(path, behaviour);
      const seen = server.count(path);
      const result = await sync(name);
      expect(result.ok).toBe(false);
      expect(result.error).toMatch(expected);
      expect(result.error).toContain(path); // names the URL…
      expect(await keyRows(name)).toEqual(before);
      expect(await verify(await key.sign({ iss: issuer, aud: 'api' }))).toEqual({ ok: true, sub: 'alice' });
      const { rows } = await db.pool.query('SELECT last_error, last_error_at, last_synced_at FROM auth.providers WHERE name = $1', [name]);
      expect(rows[0].last_error).toBe(result.error);
      expect(rows[0].last_error_at).toBeInstanceOf(Date);
      if (behaviour.kind === 'status' && behaviour.status === 500) expect(server.count(path) - seen).toBe(3);
      if (behaviour.kind === 'status' && behaviour.status === 404) expect(server.count(path) - seen).toBe(1);
    });
  }

  it('a key the database refuses is skipped with a warning; the rest is applied', async () => {
    const good = servedKey('good');
    const { name, path } = await newProvider(jwks(good));
    // on the Ed25519 curve's encoding but not a valid point encoding: y ≥ p
    const bad = { kty: 'OKP', crv: 'Ed25519', kid: 'bad', alg: 'EdDSA', x: Buffer.alloc(32, 0xff).toString('base64url') };
    const next = servedKey('next');
    server.set(path, { kind: 'json', body: jwks(good, next, bad), maxAge: 600 });
    const result = await sync(name);
    expect(result.ok).toBe(true);
    expect(result.added).toBe(1);
    expect(result.skipped.map((s) => s.kid)).toContain('bad');
    expect((await keyRows(name)).map((row) => row.kid)).toEqual(['good', 'next']);
  });
});

describe('conditional requests and scheduling', () => {
  it('sends If-None-Match, treats 304 as unchanged, and schedules from max-age clamped to [min, max]', async () => {
    const key = servedKey('etag');
    const { name, path } = await newProvider(jwks(key));
    server.set(path, { kind: 'json', body: jwks(key), etag: '"e1"', maxAge: 1_000_000 });
    expect(await sync(name)).toMatchObject({ ok: true, outcome: 'updated', unchanged: 1 });
    const before = server.requests.length;
    const result = await sync(name, false);
    expect(result).toMatchObject({ ok: true, outcome: 'not_modified', unchanged: 1 });
    const request = server.requests.slice(before).find((r) => r.path === path)!;
    expect(request.ifNoneMatch).toBe('"e1"');
    // max-age=1000000 is clamped to refresh-max (60 s by default), less up to 10 % jitter
    const { rows } = await db.pool.query(
      "SELECT extract(epoch FROM next_refresh_at - now())::float8 AS s, etag FROM auth.providers WHERE name = $1", [name]);
    expect(rows[0].s).toBeGreaterThan(60 * 0.9 - 2);
    expect(rows[0].s).toBeLessThanOrEqual(60);
    expect(rows[0].etag).toBe('"e1"');
    // a tiny max-age is raised to refresh-min (30 s by default)
    server.set(path, { kind: 'json', body: jwks(key), maxAge: 1 });
    await sync(name);
    const min = await db.pool.query("SELECT extract(epoch FROM next_refresh_at - now())::float8 AS s FROM auth.providers WHERE name = $1", [name]);
    expect(min.rows[0].s).toBeGreaterThan(30 * 0.9 - 2);
    expect(min.rows[0].s).toBeLessThanOrEqual(30);
  });

  it('sync of due providers only; --force takes every provider', async () => {
    const key = servedKey('due');
    const { name } = await newProvider(jwks(key));
    const notDue = await withClient((client) => syncProviders(client, { fetch: FAST_FETCH }));
    expect(notDue.map((r) => r.provider)).not.toContain(name);
    await db.pool.query("UPDATE auth.providers SET next_refresh_at = now() - interval '1 second' WHERE name = $1", [name]);
    const due = await withClient((client) => syncProviders(client, { fetch: FAST_FETCH }));
    expect(due.map((r) => r.provider)).toContain(name);
    const forced = await withClient((client) => syncProviders(client, { force: true, fetch: FAST_FETCH }));
    expect(forced.length).toBeGreaterThanOrEqual(counter - 1);
  });
});

describe('concurrency', () => {
  it('two syncs at once serialize and leave no duplicates', async () => {
    const a = servedKey('c1');
    const { name, path } = await newProvider(jwks(a));
    const keys = [servedKey('c2'), servedKey('c3'), servedKey('c4')];
    server.set(path, { kind: 'json', body: jwks(...keys), maxAge: 600 });
    const results = await Promise.all([sync(name), sync(name), sync(name)]);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(results.reduce((sum, r) => sum + r.added, 0)).toBe(3);
    expect(results.reduce((sum, r) => sum + r.retired, 0)).toBe(1);
    const rows = await keyRows(name);
    expect(rows.map((row) => `${row.kid}:${row.status}`)).toEqual(['c1:retired', 'c2:active', 'c3:active', 'c4:active']);
  });

  it('the unique index still refuses a duplicate kid per algorithm', async () => {
    const key = servedKey('dup');
    const { name } = await newProvider(jwks(key));
    const other = servedKey('dup');
    const error = await pgError(db.pool.query("SELECT auth.add_key($1, $2::jsonb)", [name, JSON.stringify(other.jwk)]));
    expect(error.code).toBe('23505');
  });
});
