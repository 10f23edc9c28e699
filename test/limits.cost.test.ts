// What a hostile JWKS or token may cost (docs/security.md §12): RSA key size and exponent bounds,
// keys per provider, kid-less attempts, JSON depth and shape, all at the defaults, and the opt-in
// of a provider that needs more. Every attack runs against a real Postgres.
import { createHmac, randomBytes } from 'node:crypto';
import { base64url } from 'jose';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addProvider } from '../src/providers/add.js';
import { getProvider } from '../src/sync/state.js';
import { syncProvider } from '../src/sync.js';
import { createTestDatabase, pgError, type TestDatabase } from './support/db.js';
import { jwks, servedKey, startJwksServer, type JwksServer } from './support/jwks-server.js';
import { rawToken, TestIssuer, verdictOf } from './support/tokens.js';

let db: TestDatabase;
let counter = 0;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => db?.drop());

async function provider(): Promise<string> {
  counter += 1;
  const name = `lim${counter}`;
  await db.pool.query('SELECT auth.add_provider($1, $2)', [name, `https://${name}.test`]);
  return name;
}

const addKey = (name: string, jwk: object) => db.pool.query('SELECT auth.add_key($1, $2::jsonb)', [name, JSON.stringify(jwk)]);

/** An odd modulus of exactly `bits` bits (registration checks size and form; primality is not its business). */
function modulus(bits: number): string {
  const bytes = randomBytes(Math.ceil(bits / 8));
  const top = bits % 8 === 0 ? 8 : bits % 8;
  bytes[0] = (bytes[0]! & ((1 << top) - 1)) | (1 << (top - 1));
  bytes[bytes.length - 1]! |= 1;
  return base64url.encode(bytes);
}

/** The rejection code auth.verify raises for this token, or 'accepted'. */
const verdict = (token: string): Promise<string> => verdictOf(db.pool, token);

describe('RSA key size: at most the provider’s max_rsa_bits (default 4096), opt-in up to 8192', () => {
  it('refuses a 4097-bit and an 8192-bit key at the default, with SQLSTATE 54000 and a hint', async () => {
    const name = await provider();
    for (const bits of [4097, 8192]) {
      const error = await pgError(addKey(name, { kty: 'RSA', alg: 'RS256', n: modulus(bits), e: 'AQAB' }));
      expect(error.code).toBe('54000');
      expect(error.message).toMatch(new RegExp(`${bits} bits; this provider accepts at most 4096`));
    }
    await addKey(name, { kty: 'RSA', alg: 'RS256', kid: 'max', n: modulus(4096), e: 'AQAB' });
    const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM auth.keys AS k JOIN auth.providers AS p ON p.id = k.provider_id WHERE p.name = $1', [name]);
    expect(rows[0].n).toBe(1); // the refused keys left nothing behind
  });

  it('accepts an 8192-bit key once the provider opts in, and never beyond 8192', async () => {
    const name = await provider();
    await db.pool.query('UPDATE auth.providers SET max_rsa_bits = 8192 WHERE name = $1', [name]);
    await addKey(name, { kty: 'RSA', alg: 'PS512', n: modulus(8192), e: 'AQAB' });
    const error = await pgError(addKey(name, { kty: 'RSA', alg: 'PS512', n: modulus(8193), e: 'AQAB' }));
    expect(error).toMatchObject({ code: '22023', message: expect.stringMatching(/8193 bits; 2048 to 8192/) });
    expect((await pgError(db.pool.query('UPDATE auth.providers SET max_rsa_bits = 16384 WHERE name = $1', [name]))).code).toBe('23514');
  });
});

describe('RSA public exponent: odd, 3 <= e < 2^32', () => {
  it('refuses 2^32 + 1 and 2^255 + 1, accepts 2^32 - 1, 65537 and 3', async () => {
    const name = await provider();
    const n = modulus(2048);
    for (const e of [[1, 0, 0, 0, 1], [0x80, ...Array(30).fill(0), 1]]) {
      const error = await pgError(addKey(name, { kty: 'RSA', alg: 'RS256', n, e: base64url.encode(Buffer.from(e)) }));
      expect(error).toMatchObject({ code: '22023', message: expect.stringMatching(/2\^32 or larger/) });
    }
    for (const [i, e] of ['_____w', 'AQAB', 'Aw'].entries()) {
      await addKey(name, { kty: 'RSA', alg: 'RS256', kid: `e${i}`, n, e });
    }
  });
});

describe('keys per provider: at most max_keys usable keys (default 32)', () => {
  it('refuses the key over the limit (54000), counts neither revoked keys nor retired ones past their grace', async () => {
    const name = await provider();
    const { rows } = await db.pool.query('SELECT max_keys FROM auth.providers WHERE name = $1', [name]);
    expect(rows[0].max_keys).toBe(32);
    await db.pool.query('UPDATE auth.providers SET max_keys = 3 WHERE name = $1', [name]);
    const hs = (kid: string) => ({ kty: 'oct', alg: 'HS256', kid, k: base64url.encode(randomBytes(32)) });
    for (const kid of ['a', 'b', 'c']) await addKey(name, hs(kid));
    const error = await pgError(addKey(name, hs('d')));
    expect(error).toMatchObject({ code: '54000', message: `provider ${name} already has 3 usable keys, its limit` });
    await db.pool.query('SELECT auth.revoke_key($1, $2)', ['a', name]);
    await addKey(name, hs('d'));
    await db.pool.query(
      `UPDATE auth.keys SET status = 'retired', retired_at = now() - interval '2 hours', verify_until = now() - interval '1 hour'
        WHERE kid = 'b' AND provider_id = (SELECT id FROM auth.providers WHERE name = $1)`, [name]);
    await addKey(name, hs('e'));
    expect((await pgError(addKey(name, hs('f')))).code).toBe('54000');
  });

  it('bounds the precomputed rows a hostile JWKS can make the database build: 33 EC keys fail the sync, the keys stay', async () => {
    const server: JwksServer = await startJwksServer();
    const client: pg.PoolClient = await db.pool.connect();
    try {
      const FAST = { timeoutMs: 3000, connectTimeoutMs: 1000, retries: 0, backoffMs: 10 };
      server.set('/few', { kind: 'json', body: jwks(servedKey('k0', 'ES256')) });
      await addProvider(client, { name: 'hostile', issuer: 'https://hostile.test', jwksUrl: server.url('/few'), fetch: FAST });
      await client.query('UPDATE auth.providers SET max_keys = 4 WHERE name = $1', ['hostile']);
      const many = Array.from({ length: 5 }, (_, i) => servedKey(`k${i + 1}`, 'ES256'));
      server.set('/few', { kind: 'json', body: jwks(...many) });
      const result = await syncProvider(client, await getProvider(client, 'hostile'), { force: true, fetch: FAST });
      expect(result.ok).toBe(false);
      expect(result.error).toMatch(/max_keys \(4\); the keys stay as they were/);
      const { rows } = await client.query(
        `SELECT k.kid, k.status FROM auth.keys AS k JOIN auth.providers AS p ON p.id = k.provider_id WHERE p.name = 'hostile' ORDER BY k.kid`);
      expect(rows).toEqual([{ kid: 'k0', status: 'active' }]);
      const { rows: points } = await client.query(
        `SELECT count(*)::int AS n FROM auth.ec_keys AS e JOIN auth.keys AS k ON k.id = e.key_id JOIN auth.providers AS p ON p.id = k.provider_id WHERE p.name = 'hostile'`);
      expect(points[0].n).toBe(1);
    } finally {
      client.release();
      await server.close();
    }
  });
});

describe('kid-less tokens: tried against the two newest usable keys of their alg (ES512: the newest)', () => {
  it('accepts a kid-less token of the newest and second-newest key, rejects one of an older key (bad_signature)', async () => {
    const idp = await TestIssuer.create(db.pool, 'kidless', { audiences: [] });
    const kids = [];
    for (let i = 0; i < 3; i++) kids.push(await idp.addKey('HS256', `hs-${i}`));
    const token = (kid: string) => idp.sign(kid, {}, { kid: undefined });
    expect(await verdict(await token('hs-2'))).toBe('accepted');
    expect(await verdict(await token('hs-1'))).toBe('accepted');
    expect(await verdict(await token('hs-0'))).toBe('bad_signature');
    expect(await verdict(await idp.sign('hs-0'))).toBe('accepted'); // with its kid it verifies
    // revoked keys make room: the newest usable ones are tried
    await db.pool.query("SELECT auth.revoke_key('hs-2', 'kidless')");
    expect(await verdict(await token('hs-0'))).toBe('accepted');
    expect(kids).toHaveLength(3);
  });

  it('ES512 kid-less tokens are tried against the newest key only (two P-521 checks would pass the 10 ms budget)', async () => {
    const idp = await TestIssuer.create(db.pool, 'kidless512', { audiences: [] });
    for (let i = 0; i < 2; i++) await idp.addKey('ES512', `es-${i}`);
    const token = (kid: string) => idp.sign(kid, {}, { kid: undefined });
    expect(await verdict(await token('es-1'))).toBe('accepted');
    expect(await verdict(await token('es-0'))).toBe('bad_signature');
    expect(await verdict(await idp.sign('es-0'))).toBe('accepted'); // with its kid it verifies
  });
});

describe('JSON depth and shape, before any cryptography (malformed, SQLSTATE 28000)', () => {
  let idp: TestIssuer;
  let kid: string;
  beforeAll(async () => {
    idp = await TestIssuer.create(db.pool, 'json', { audiences: [] });
    kid = await idp.addKey('HS256', 'hs');
  });

  /** A token with this payload text, signed with the issuer's HS256 key. */
  function signed(payload: string, header = `{"alg":"HS256","kid":"${kid}"}`): string {
    const input = `${base64url.encode(header)}.${base64url.encode(payload)}`;
    const secret = idp.key(kid).privateKey.export();
    return `${input}.${base64url.encode(createHmac('sha256', secret).update(input).digest())}`;
  }
  const claims = () => JSON.stringify(idp.claims()).slice(0, -1);

  it('accepts a value inside 32 objects and arrays and rejects one inside 33, in the payload and in the header', async () => {
    const arrays = (count: number) => `${'['.repeat(count)}1${']'.repeat(count)}`; // inside the payload object too
    expect(await verdict(signed(`${claims()},"x":${arrays(31)}}`))).toBe('accepted');
    expect(await verdict(signed(`${claims()},"x":${arrays(32)}}`))).toBe('malformed');
    expect(await verdict(signed(`${claims()}}`, `{"alg":"HS256","kid":"${kid}","x":${arrays(31)}}`))).toBe('accepted');
    expect(await verdict(signed(`${claims()}}`, `{"alg":"HS256","kid":"${kid}","x":${arrays(32)}}`))).toBe('malformed');
    expect(await verdict(signed(`${claims()},"x":${'{"a":'.repeat(32)}1${'}'.repeat(32)}}`))).toBe('malformed');
  });

  it('rejects nesting as deep as 16 KiB allows, arrays or objects, signed or not, as malformed, never 54001', async () => {
    for (const deep of ['['.repeat(6000) + ']'.repeat(6000), '{"a":'.repeat(200) + '1' + '}'.repeat(200)]) {
      expect(await verdict(signed(`${claims()},"x":${deep}}`))).toBe('malformed');
      expect(await verdict(rawToken({ alg: 'HS256' }, `{"x":${deep}}`, 'c2ln'))).toBe('malformed');
    }
    expect(await verdict(rawToken({ alg: 'HS256' }, `{"x":${'['.repeat(12_000)}`, 'c2ln'))).toMatch(/^(malformed|too_large)$/);
  });

  it('rejects more than 256 "{" and "[" together, or more than 1024 ",": what a 16 KiB token may cost to parse', async () => {
    // 256 with the header's and the payload's own "{"
    expect(await verdict(signed(`${claims()},"x":[${'{},'.repeat(252)}{}]}`))).toBe('accepted');
    expect(await verdict(signed(`${claims()},"x":[${'{},'.repeat(253)}{}]}`))).toBe('malformed');
    expect(await verdict(signed(`${claims()},"x":[${'[],'.repeat(253)}[]]}`))).toBe('malformed');
    expect(await verdict(rawToken({ alg: 'HS256' }, `{"x":[${'{},'.repeat(4000)}{}]}`, 'c2ln'))).toBe('malformed');
    // the claims' own, the one before "x", the header's one
    const commas = (JSON.stringify(idp.claims()).match(/,/g) ?? []).length + 2;
    expect(await verdict(signed(`${claims()},"x":[${'1,'.repeat(1024 - commas)}1]}`))).toBe('accepted');
    expect(await verdict(signed(`${claims()},"x":[${'1,'.repeat(1025 - commas)}1]}`))).toBe('malformed');
    expect(await verdict(signed(`${claims()},"x":"${','.repeat(1100)}"}`))).toBe('malformed'); // inside strings too
  });

  it('rejects numbers beyond 1e21 or below 1e-21 outside exp/nbf/iat; accepts 64-bit integers and lookalike strings', async () => {
    expect(await verdict(signed(`${claims()},"n":18446744073709551615,"f":1.5e-7,"s":"9e99 1e-400","h":"${'1'.repeat(40)}"}`))).toBe('accepted');
    for (const n of ['1e21', '-1e21', '1e-22', '1e131000', '1' + '0'.repeat(21), '0.' + '0'.repeat(21) + '1']) {
      expect(await verdict(signed(`${claims()},"n":${n}}`)), n).toBe('malformed');
    }
    expect(await verdict(signed(`${claims()}}`, `{"alg":"HS256","kid":"${kid}","n":[1e300]}`))).toBe('malformed');
    // beyond numeric's own range: 22003 inside, malformed outside
    expect(await verdict(rawToken({ alg: 'HS256' }, '{"x":1e1000000}', 'c2ln'))).toBe('malformed');
  });

  it('still finds duplicate members that escapes or colons inside strings might hide', async () => {
    const base = claims();
    expect(await verdict(signed(`${base},"a":1,"a":"\\u003a"}`))).toBe('malformed');
    expect(await verdict(signed(`${base},"a":"x","\\u0061":"y:z"}`))).toBe('malformed');
    expect(await verdict(signed(`${base},"o":{"k":":","k":"\\\\u003a"}}`))).toBe('malformed');
    expect(await verdict(signed(`${base},"a":"\\u003a\\\\u003a:","b":{"c:d":[{"e":":"}]}}`))).toBe('accepted');
  });
});

describe('the RSA worst case at the defaults stays bounded', () => {
  it('registers the costliest key the defaults allow (4096 bits, e = 2^32 - 1) and rejects a forged token with it', async () => {
    const name = await provider();
    await addKey(name, { kty: 'RSA', alg: 'RS256', kid: 'slow', n: modulus(4096), e: '_____w' });
    const forged = rawToken({ alg: 'RS256', kid: 'slow' }, { iss: `https://${name}.test`, sub: 'x', exp: 2e9 }, base64url.encode(Buffer.alloc(512, 1)));
    expect(await verdict(forged)).toBe('bad_signature');
  });
});
