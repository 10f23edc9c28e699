// Key rotation in SQL, called directly as a SQL-file or pg_tle install would (docs/providers.md
// "Rotating keys in SQL"): auth.apply_jwks retires, restores, replaces and adds keys under the
// provider's limits, all or nothing; auth.remove_provider removes a provider and counts its keys;
// only the schema owner may call either, and objects on the caller's search_path change nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, inRolledBackTransaction, pgError, type TestDatabase } from './support/db.js';
import { jwks, servedKey, type ServedKey } from './support/jwks-server.js';

let db: TestDatabase;
let counter = 0;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => db?.drop());

interface Applied {
  added: number;
  retired: number;
  restored: number;
  replaced: number;
  unchanged: number;
  skipped: { kid: string | null; reason: string }[];
}

/** A provider with no keys yet, issuer https://NAME.test and audience `api`. */
async function newProvider(settings: { grace?: number; maxKeys?: number } = {}): Promise<{ name: string; issuer: string }> {
  counter += 1;
  const name = `rot${counter}`;
  const issuer = `https://${name}.test`;
  await db.pool.query(`SELECT auth.add_provider($1, $2, NULL, '{api}')`, [name, issuer]);
  await db.pool.query('UPDATE auth.providers SET grace_seconds = $2, max_keys = $3 WHERE name = $1',
    [name, settings.grace ?? 3600, settings.maxKeys ?? 20]);
  return { name, issuer };
}

async function apply(provider: string, set: unknown): Promise<Applied> {
  const { rows } = await db.pool.query<Applied>('SELECT * FROM auth.apply_jwks($1, $2::jsonb)', [provider, JSON.stringify(set)]);
  return rows[0]!;
}

const counts = (a: Applied) => ({ added: a.added, retired: a.retired, restored: a.restored, replaced: a.replaced, unchanged: a.unchanged });

async function keyRows(provider: string) {
  const { rows } = await db.pool.query<{ kid: string | null; status: string; source: string; in_grace: boolean | null }>(
    `SELECT k.kid, k.status, k.source, k.verify_until > clock_timestamp() AS in_grace
       FROM auth.keys AS k JOIN auth.providers AS p ON p.id = k.provider_id
      WHERE p.name = $1 ORDER BY k.kid, k.id`, [provider]);
  return rows;
}

/** Whether auth.verify accepts a token of `key` for the provider; else the rejection message. */
async function verifies(issuer: string, key: ServedKey): Promise<true | string> {
  const token = await key.sign({ iss: issuer, aud: 'api' });
  try {
    await db.pool.query('SELECT auth.verify($1)', [token]);
    return true;
  } catch (error) {
    return (error as Error).message;
  }
}

describe('auth.apply_jwks', () => {
  it('retires a key the set no longer holds for the grace period, and restores it when it reappears', async () => {
    const { name, issuer } = await newProvider({ grace: 3600 });
    const a = servedKey('a', 'ES256');
    const b = servedKey('b', 'EdDSA');
    expect(counts(await apply(name, jwks(a, b)))).toEqual({ added: 2, retired: 0, restored: 0, replaced: 0, unchanged: 0 });

    expect(counts(await apply(name, jwks(a)))).toEqual({ added: 0, retired: 1, restored: 0, replaced: 0, unchanged: 1 });
    expect(await keyRows(name)).toEqual([
      { kid: 'a', status: 'active', source: 'jwks', in_grace: null },
      { kid: 'b', status: 'retired', source: 'jwks', in_grace: true },
    ]);
    expect(await verifies(issuer, b)).toBe(true);

    expect(counts(await apply(name, jwks(a, b)))).toEqual({ added: 0, retired: 0, restored: 1, replaced: 0, unchanged: 1 });
    expect((await keyRows(name)).map((k) => k.status)).toEqual(['active', 'active']);
  });

  it('a retired key stops verifying when its grace period ends, and then no longer counts against max_keys', async () => {
    const { name, issuer } = await newProvider({ grace: 3600, maxKeys: 2 });
    const a = servedKey('a', 'ES256');
    const b = servedKey('b', 'ES256');
    const c = servedKey('c', 'ES256');
    await apply(name, jwks(a, b));
    await apply(name, jwks(a));
    // b still verifies in its grace period: a and c beside it would be three usable keys
    const error = await pgError(apply(name, jwks(a, c)));
    expect(error.code).toBe('54000');
    expect(error.message).toBe(
      `the set has 2 usable keys and 1 earlier key(s) still verify (static, or retired within their grace period), over provider ${name}'s max_keys (2); ` +
        `the keys stay as they were (authdb provider update ${name} --max-keys N raises it)`,
    );
    expect((await keyRows(name)).map((k) => `${k.kid}:${k.status}`)).toEqual(['a:active', 'b:retired']);

    await db.pool.query(
      `UPDATE auth.keys SET verify_until = now() - interval '1 second'
        WHERE kid = 'b' AND provider_id = (SELECT id FROM auth.providers WHERE name = $1)`, [name]);
    expect(await verifies(issuer, b)).toMatch(/^jwt rejected: /);
    expect(counts(await apply(name, jwks(a, c)))).toEqual({ added: 1, retired: 0, restored: 0, replaced: 0, unchanged: 1 });
    expect(await verifies(issuer, c)).toBe(true);
  });

  it('with no grace period a removed key stops at once', async () => {
    const { name, issuer } = await newProvider({ grace: 0 });
    const a = servedKey('a', 'EdDSA');
    const b = servedKey('b', 'EdDSA');
    await apply(name, { keys: [a.jwk, b.jwk] });
    expect((await apply(name, [a.jwk])).retired).toBe(1);
    expect(await verifies(issuer, b)).toMatch(/^jwt rejected: /);
    expect(await verifies(issuer, a)).toBe(true);
  });

  it('a kid republished with other material replaces the old key', async () => {
    const { name, issuer } = await newProvider();
    const old = servedKey('k', 'ES256');
    const fresh = servedKey('k', 'ES256');
    await apply(name, jwks(old));
    expect(counts(await apply(name, jwks(fresh)))).toEqual({ added: 1, retired: 0, restored: 0, replaced: 1, unchanged: 0 });
    expect(await verifies(issuer, old)).toMatch(/^jwt rejected: bad_signature$/);
    expect(await verifies(issuer, fresh)).toBe(true);
    expect(await keyRows(name)).toHaveLength(1);
  });

  it('revoked material stays revoked under any kid; a static key keeps its kid', async () => {
    const { name } = await newProvider();
    const leaked = servedKey('leaked', 'EdDSA');
    const other = servedKey('other', 'EdDSA');
    await apply(name, jwks(leaked));
    await db.pool.query('SELECT auth.revoke_key($1, $2)', ['leaked', name]);
    const staticKey = servedKey('static', 'EdDSA');
    await db.pool.query('SELECT auth.add_key($1, $2::jsonb)', [name, JSON.stringify(staticKey.jwk)]);

    const result = await apply(name, jwks({ ...leaked.jwk, kid: 'renamed' }, { ...servedKey('static', 'EdDSA').jwk }, other));
    expect(counts(result)).toEqual({ added: 1, retired: 0, restored: 0, replaced: 0, unchanged: 1 });
    expect(result.skipped).toEqual([
      { kid: 'renamed', reason: 'this key was revoked (kid leaked)' },
      { kid: 'static', reason: 'kid static (EdDSA) belongs to a static key with other material' },
    ]);
    expect((await keyRows(name)).map((k) => `${k.kid}:${k.status}:${k.source}`)).toEqual(
      ['leaked:revoked:jwks', 'other:active:jwks', 'static:active:static']);
  });

  it('skips a key auth.add_key refuses, with the reason; a set of only such keys changes nothing', async () => {
    const { name } = await newProvider();
    const good = servedKey('good', 'ES256');
    const offCurve = { ...servedKey('bad', 'ES256').jwk, y: good.jwk.x };
    const secret = { kty: 'oct', k: 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA', kid: 'hmac', alg: 'HS256' };
    const result = await apply(name, jwks(good, offCurve, secret));
    expect(result.added).toBe(1);
    expect(result.skipped.map((s) => s.kid)).toEqual(['hmac', 'bad']);
    expect(result.skipped[0]!.reason).toBe('a symmetric (oct) key is never taken from a JWKS URL');
    expect(result.skipped[1]!.reason).toMatch(/^refused by the database: /);

    const { name: empty } = await newProvider();
    const error = await pgError(apply(empty, jwks(offCurve)));
    expect(error.code).toBe('22023');
    expect(error.message).toMatch(/^no usable key in the set \(bad: refused by the database: /);
    expect(await keyRows(empty)).toEqual([]);
  });

  it('a key over max_rsa_bits fails the whole set', async () => {
    const { name } = await newProvider();
    await db.pool.query('UPDATE auth.providers SET max_rsa_bits = 2048 WHERE name = $1', [name]);
    const a = servedKey('a', 'EdDSA');
    await apply(name, jwks(a));
    const big = { kty: 'RSA', kid: 'big', alg: 'RS256', e: 'AQAB', n: Buffer.alloc(384, 0xc3).toString('base64url') };
    const error = await pgError(apply(name, jwks(big, servedKey('b', 'EdDSA'))));
    expect(error.code).toBe('54000');
    expect(error.message).toBe(
      `key big is a 3072-bit RSA key, over provider ${name}'s max_rsa_bits (2048); ` +
        `the keys stay as they were (authdb provider update ${name} --max-rsa-bits N raises it)`,
    );
    expect((await keyRows(name)).map((k) => `${k.kid}:${k.status}`)).toEqual(['a:active']);
  });

  it('refuses an unknown provider and a document that is not a key set', async () => {
    const unknown = await pgError(apply('nobody', { keys: [] }));
    expect(unknown).toMatchObject({ code: '22023', message: 'no provider named nobody' });
    const { name } = await newProvider();
    const notSet = await pgError(apply(name, { kid: 'x' }));
    expect(notSet).toMatchObject({ code: '22023', message: 'a key set is a JWK Set {"keys": [...]} or a JSON array of JWKs' });
  });
});

describe('auth.remove_provider', () => {
  it('removes the provider and its keys, static, retired and revoked ones included; returns their number', async () => {
    const { name } = await newProvider();
    await apply(name, jwks(servedKey('a', 'EdDSA'), servedKey('b', 'EdDSA')));
    await apply(name, jwks(servedKey('c', 'EdDSA')));
    await db.pool.query('SELECT auth.revoke_key($1, $2)', ['c', name]);
    await db.pool.query('SELECT auth.add_key($1, $2::jsonb)', [name, JSON.stringify(servedKey('s', 'EdDSA').jwk)]);
    const { name: bystander } = await newProvider();
    await apply(bystander, jwks(servedKey('a', 'EdDSA')));

    const { rows } = await db.pool.query<{ removed: number }>('SELECT auth.remove_provider($1) AS removed', [name]);
    expect(rows[0]!.removed).toBe(4);
    const { rows: left } = await db.pool.query('SELECT name FROM auth.providers WHERE name IN ($1, $2)', [name, bystander]);
    expect(left).toEqual([{ name: bystander }]);
    expect(await keyRows(bystander)).toHaveLength(1);

    const again = await pgError(db.pool.query('SELECT auth.remove_provider($1)', [name]));
    expect(again).toMatchObject({ code: '22023', message: `no provider named ${name}` });
  });

  it('a provider without keys: 0', async () => {
    const { name } = await newProvider();
    const { rows } = await db.pool.query<{ removed: number }>('SELECT auth.remove_provider($1) AS removed', [name]);
    expect(rows[0]!.removed).toBe(0);
  });
});

describe('who may rotate', () => {
  it.each(['authenticated', 'anonymous'])('%s may call neither function', async (role) => {
    const { name } = await newProvider();
    for (const statement of [
      `SELECT auth.apply_jwks('${name}', '{"keys": []}')`,
      `SELECT auth.remove_provider('${name}')`,
    ]) {
      const error = await inRolledBackTransaction(db.pool, async (client) => {
        await client.query(`SET LOCAL ROLE ${role}`);
        return pgError(client.query(statement));
      });
      expect(error.code, statement).toBe('42501');
    }
  });

  it('both pin search_path: a now() the caller puts first does not decide the grace period', async () => {
    const { rows } = await db.pool.query<{ name: string; config: string[] | null }>(
      `SELECT p.proname AS name, p.proconfig AS config FROM pg_proc AS p
        WHERE p.pronamespace = 'auth'::regnamespace AND p.proname IN ('apply_jwks', 'remove_provider') ORDER BY 1`);
    expect(rows.map((r) => r.name)).toEqual(['apply_jwks', 'remove_provider']);
    for (const row of rows) expect(row.config, row.name).toContain('search_path=pg_catalog, pg_temp');

    const { name } = await newProvider({ grace: 3600 });
    const a = servedKey('a', 'EdDSA');
    await apply(name, jwks(a, servedKey('b', 'EdDSA')));
    const retired = await inRolledBackTransaction(db.pool, async (client) => {
      await client.query('CREATE SCHEMA evil');
      await client.query(`CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT '2000-01-01'::timestamptz $$`);
      await client.query('SET LOCAL search_path = evil, pg_catalog');
      await client.query('SELECT * FROM auth.apply_jwks($1, $2::jsonb)', [name, JSON.stringify(jwks(a))]);
      const { rows: keys } = await client.query<{ in_grace: boolean }>(
        `SELECT verify_until > pg_catalog.clock_timestamp() AS in_grace FROM auth.keys WHERE kid = 'b'
            AND provider_id = (SELECT id FROM auth.providers WHERE name = $1)`, [name]);
      return keys[0]!.in_grace;
    });
    expect(retired).toBe(true);
  });
});
