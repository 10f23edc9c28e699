// Real JWKS documents that RFC 7518 would refuse but jose reads (PayPal, Battle.net, Klarna): a
// modulus with a leading zero octet, members in padded standard base64, one key under two kids.
// The JWKS path normalises them; the database and tokens stay strict.

import { calculateJwkThumbprint, type JWK } from 'jose';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseKeySet } from '../src/jwks/parse.js';
import { getProvider } from '../src/sync/state.js';
import { syncProvider } from '../src/sync.js';
import { authdb, jsonOutput } from './support/cli.js';
import { type TestDatabase, withPoolClient } from './support/db.js';
import { closeJwksFixture, jwks, type JwksServer, openJwksFixture, type ServedKey, servedKey } from './support/jwks-server.js';
import { newKeyPairSync } from '../src/key-pair.js';

let db: TestDatabase;
let server: JwksServer;

beforeAll(async () => ({ db, server } = await openJwksFixture()));
afterAll(async () => closeJwksFixture({ db, server }));

const standard = (bytes: Buffer) => bytes.toString('base64'); // '+', '/' and '=' padding
const withLeadingZero = (member: unknown) => Buffer.concat([Buffer.alloc(1), Buffer.from(member as string, 'base64url')]);

/** An RSA key whose JWK has a leading zero octet in `n`, and `n`/`e` in padded standard base64. */
function quirkyRsa(kid: string): { key: ServedKey; canonical: Record<string, unknown> } {
  const key = servedKey(kid, 'RS256');
  const canonical = { kty: 'RSA', n: key.jwk.n, e: key.jwk.e };
  key.jwk = { ...key.jwk, n: standard(withLeadingZero(key.jwk.n)), e: standard(withLeadingZero(key.jwk.e)) };
  return { key, canonical };
}

async function verify(token: string): Promise<string> {
  try {
    const { rows } = await db.pool.query('SELECT auth.verify($1) ->> $2 AS sub', [token, 'sub']);
    return rows[0].sub;
  } catch (error) {
    return (error as Error).message;
  }
}

const withClient = <T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> => withPoolClient(db.pool, work);

const sync = (name: string) => withClient(async (client) => syncProvider(client, await getProvider(client, name), { force: true }));

async function keyStates(name: string): Promise<string[]> {
  const { rows } = await db.pool.query(
    'SELECT k.kid, k.status FROM auth.keys k JOIN auth.providers p ON p.id = k.provider_id WHERE p.name = $1 ORDER BY k.kid', [name]);
  return rows.map((row) => `${row.kid}:${row.status}`);
}

describe('normalised as jose reads them, in the JWKS path only', () => {
  it('a leading zero octet and padded standard base64 give the canonical members and thumbprint', async () => {
    const { key, canonical } = quirkyRsa('paypal');
    expect(key.jwk.n).toMatch(/=$/);
    expect(key.jwk.e).toBe('AAEAAQ==');
    const ec = newKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }) as Record<string, string>;
    const ecQuirky = { ...ec, kid: 'ec', x: standard(Buffer.from(ec.x!, 'base64url')), y: standard(Buffer.from(ec.y!, 'base64url')) };
    const parsed = await parseKeySet(JSON.stringify({ keys: [key.jwk, ecQuirky] }));
    expect(parsed.skipped).toEqual([]);
    expect(parsed.keys[0]!.jwk).toMatchObject({ n: canonical.n, e: 'AQAB' });
    expect(parsed.keys[0]!.thumbprint).toBe(await calculateJwkThumbprint(canonical as JWK, 'sha256'));
    expect(parsed.keys[1]!.jwk).toMatchObject({ x: ec.x, y: ec.y }); // EC coordinates keep their fixed length
  });

  it('what is neither base64url nor base64 is still skipped', async () => {
    const good = servedKey('good');
    const bad = (n: string) => ({ ...servedKey('x', 'RS256').jwk, kid: `bad-${n}`, n });
    const parsed = await parseKeySet(JSON.stringify({ keys: [good.jwk, bad('AB*C'), bad('AAA=='), bad('A'), bad('AA=A'), bad('AAAA')] }));
    expect(parsed.keys.map((k) => k.kid)).toEqual(['good']);
    expect(Object.fromEntries(parsed.skipped.map((s) => [s.kid, s.reason]))).toEqual({
      'bad-AB*C': '"n" is not base64url',
      'bad-AAA==': '"n" is not base64url',
      'bad-A': '"n" is not base64url',
      'bad-AA=A': '"n" is not base64url',
      'bad-AAAA': '"n" is zero',
    });
  });

  it('provider add (the binary): a set whose keys are all such (Battle.net) registers every key, stored canonical, and their tokens verify', async () => {
    const keys = [quirkyRsa('bnet-1'), quirkyRsa('bnet-2'), quirkyRsa('bnet-3')];
    server.set('/bnet/jwks.json', { kind: 'json', body: jwks(...keys.map((k) => k.key)), maxAge: 600 });
    const added = await authdb(['provider', 'add', 'bnet', '--jwks-url', server.url('/bnet/jwks.json'), '--issuer', 'https://bnet.test',
      '--audience', 'api', '--json', '--database-url', db.url]);
    expect(added.code, added.stderr).toBe(0);
    expect(jsonOutput(added)).toMatchObject({ provider: 'bnet', added: 3, skipped: [] });
    const { rows } = await db.pool.query("SELECT kid, public_jwk ->> 'n' AS n, public_jwk ->> 'e' AS e FROM auth.keys WHERE kid LIKE 'bnet-%' ORDER BY kid");
    expect(rows).toEqual(keys.map(({ key, canonical }) => ({ kid: key.kid, n: canonical.n, e: 'AQAB' })));
    for (const { key } of keys) expect(await verify(await key.sign({ iss: 'https://bnet.test', aud: 'api' }))).toBe('alice');
    expect(await sync('bnet')).toMatchObject({ ok: true, added: 0, unchanged: 3 });
  });

  it('tokens stay strict: a signature re-encoded in padded standard base64 is malformed', async () => {
    const { key } = quirkyRsa('strict');
    server.set('/strict/jwks.json', { kind: 'json', body: jwks(key), maxAge: 600 });
    const added = await authdb(['provider', 'add', 'strict', '--jwks-url', server.url('/strict/jwks.json'), '--issuer', 'https://strict.test',
      '--audience', 'api', '--database-url', db.url]);
    expect(added.code, added.stderr).toBe(0);
    const token = await key.sign({ iss: 'https://strict.test', aud: 'api' });
    expect(await verify(token)).toBe('alice');
    const [header, payload, signature] = token.split('.');
    expect(await verify(`${header}.${payload}.${standard(Buffer.from(signature!, 'base64url'))}`)).toBe('jwt rejected: malformed');
  });
});

describe('one key under two kids (Klarna)', () => {
  it('both kids verify; syncs keep both; a kid dropped is retired alone; revoking one kid revokes the key under both, for good', async () => {
    const shared = servedKey('klarna-a', 'ES256');
    const other = servedKey('klarna-c');
    const twice = jwks(shared, { ...shared.jwk, kid: 'klarna-b' }, other);
    server.set('/klarna/jwks.json', { kind: 'json', body: twice, maxAge: 600 });
    const added = await authdb(['provider', 'add', 'klarna', '--jwks-url', server.url('/klarna/jwks.json'), '--issuer', 'https://klarna.test',
      '--audience', 'api', '--json', '--database-url', db.url]);
    expect(added.code, added.stderr).toBe(0);
    expect(jsonOutput(added)).toMatchObject({ added: 3, skipped: [] });
    const claims = { iss: 'https://klarna.test', aud: 'api' };
    const [ta, tb] = [await shared.sign(claims, 'klarna-a'), await shared.sign(claims, 'klarna-b')];
    expect(await verify(ta)).toBe('alice');
    expect(await verify(tb)).toBe('alice');
    expect(await sync('klarna')).toMatchObject({ ok: true, added: 0, unchanged: 3, skipped: [] });

    // the provider stops listing kid b: that row is retired (and verifies during the grace period)
    server.set('/klarna/jwks.json', { kind: 'json', body: jwks(shared, other), maxAge: 600 });
    expect(await sync('klarna')).toMatchObject({ ok: true, retired: 1, unchanged: 2 });
    expect(await keyStates('klarna')).toEqual(['klarna-a:active', 'klarna-b:retired', 'klarna-c:active']);
    server.set('/klarna/jwks.json', { kind: 'json', body: twice, maxAge: 600 });
    expect(await sync('klarna')).toMatchObject({ ok: true, restored: 1, unchanged: 2 });

    // a leaked key is revoked under every kid it is published with, and a sync never brings it back
    await db.pool.query("SELECT auth.revoke_key('klarna-a', 'klarna')");
    expect(await keyStates('klarna')).toEqual(['klarna-a:revoked', 'klarna-b:revoked', 'klarna-c:active']);
    expect(await verify(tb)).toBe('jwt rejected: key_revoked');
    const again = await sync('klarna');
    expect(again).toMatchObject({ ok: true, added: 0, unchanged: 1 });
    expect(await keyStates('klarna')).toEqual(['klarna-a:revoked', 'klarna-b:revoked', 'klarna-c:active']);
    // …nor under a new kid
    server.set('/klarna/jwks.json', { kind: 'json', body: jwks({ ...shared.jwk, kid: 'klarna-new' }, other), maxAge: 600 });
    const renamed = await sync('klarna');
    expect(renamed).toMatchObject({ ok: true, added: 0, skipped: [{ kid: 'klarna-new', reason: 'this key was revoked (kid klarna-a)' }] });
    expect(await verify(await shared.sign(claims, 'klarna-new'))).toBe('jwt rejected: unknown_key');
  });
});
