// ECDSA (ES256, ES384, ES512; RFC 7518 §3.4) in SQL: EC key registration (RFC 7518 §6.2.1, SEC 1
// §3.2.2.1 validation) and verification (SEC 1 §4.1.4) against signatures made by node:crypto.
// Wycheproof's vectors are in ecdsa.wycheproof.test.ts.
import { sign, type KeyObject } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, pgError, type TestDatabase } from './support/db.js';
import { TestIssuer } from './support/tokens.js';
import { insertProviderRow, registerKeyRow } from './support/key-rows.js';
import { newKeyPairSync } from '../src/key-pair.js';

const CURVES = [
  {
    alg: 'ES256', crv: 'P-256', hash: 'sha256', bytes: 32,
    p: 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n,
    n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  },
  {
    alg: 'ES384', crv: 'P-384', hash: 'sha384', bytes: 48,
    p: 2n ** 384n - 2n ** 128n - 2n ** 96n + 2n ** 32n - 1n,
    n: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  },
  {
    alg: 'ES512', crv: 'P-521', hash: 'sha512', bytes: 66,
    p: 2n ** 521n - 1n,
    n: 0x01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
  },
] as const;

let db: TestDatabase;
let providerId: number;
let keyCount = 0;

beforeAll(async () => {
  db = await createTestDatabase();
  providerId = await insertProviderRow(db.pool, 'ec-keys');
}, 60_000);
afterAll(async () => db?.drop());

const octets = (value: bigint, length: number) => Buffer.from(value.toString(16).padStart(2 * length, '0'), 'hex');
const b64url = (bytes: Buffer) => bytes.toString('base64url');
const fromB64url = (text: string) => BigInt(`0x${Buffer.from(text, 'base64url').toString('hex')}`);

/** Inserts a key row and registers it in one transaction; resolves to its id. */
async function register(jwk: Record<string, unknown>, alg: string): Promise<number> {
  keyCount += 1;
  return registerKeyRow(db.pool, { providerId, kid: `ec-${keyCount}`, alg, jwk, family: 'ec' });
}

/** Many verdicts in one query. */
async function verifyAll(keyId: number, alg: string, items: { message: Buffer; signature: Buffer }[]): Promise<boolean[]> {
  const { rows } = await db.pool.query<{ verdicts: boolean[] }>(
    `SELECT array_agg(auth._verify_ecdsa($1, $2, t.m, t.s) ORDER BY t.n) AS verdicts
       FROM unnest($3::bytea[], $4::bytea[]) WITH ORDINALITY AS t (m, s, n)`,
    [keyId, alg, items.map((i) => i.message), items.map((i) => i.signature)],
  );
  return rows[0]!.verdicts;
}

describe.each(CURVES)('$alg', ({ alg, crv, hash, bytes, p, n }) => {
  let keyId: number;
  let privateKey: KeyObject;
  let jwk: { kty: string; crv: string; x: string; y: string };

  beforeAll(async () => {
    const pair = newKeyPairSync('ec', { namedCurve: crv });
    privateKey = pair.privateKey;
    jwk = pair.publicKey.export({ format: 'jwk' }) as typeof jwk;
    keyId = await register(jwk, alg);
  }, 60_000);

  const signed = (message: Buffer) => sign(hash, message, { key: privateKey, dsaEncoding: 'ieee-p1363' });

  it('verifies signatures made by node:crypto, and none with a flipped bit', async () => {
    const messages = Array.from({ length: 6 }, (_, i) => Buffer.from(`eyJhbGciOiJ${alg}In0.eyJzdWIiOiI${i}In0`));
    const good = messages.map((message) => ({ message, signature: signed(message) }));
    expect(await verifyAll(keyId, alg, good)).toEqual(good.map(() => true));

    const flipped = good.flatMap(({ message, signature }, i) => {
      const sig = Buffer.from(signature);
      sig[(i * 37) % sig.length]! ^= 1 << (i % 8); // in r for some, in s for others
      const msg = Buffer.from(message);
      msg[i % msg.length]! ^= 0x20;
      return [
        { message, signature: sig },
        { message: msg, signature },
      ];
    });
    expect(await verifyAll(keyId, alg, flipped)).toEqual(flipped.map(() => false));
  });

  it('accepts a high-S signature (n − s), as RFC 7518 has no low-S rule', async () => {
    const message = Buffer.from('high-s');
    const signature = signed(message);
    const s = BigInt(`0x${signature.subarray(bytes).toString('hex')}`);
    const flippedS = Buffer.concat([signature.subarray(0, bytes), octets(n - s, bytes)]);
    expect(await verifyAll(keyId, alg, [{ message, signature: flippedS }])).toEqual([true]);
  });

  it('rejects r or s outside [1, n − 1] (CVE-2022-21449) and wrong lengths, without raising', async () => {
    const message = Buffer.from('range');
    const signature = signed(message);
    const r = signature.subarray(0, bytes);
    const s = signature.subarray(bytes);
    const zero = octets(0n, bytes);
    const order = octets(n, bytes);
    const cases = [
      Buffer.concat([zero, zero]), // the psychic signature
      Buffer.concat([zero, s]),
      Buffer.concat([r, zero]),
      Buffer.concat([order, s]),
      Buffer.concat([r, order]),
      Buffer.concat([octets(BigInt(`0x${r.toString('hex')}`) + n, bytes + 1).subarray(1), s]), // r + n mod 2^(8·bytes)
      signature.subarray(1), // too short
      Buffer.concat([signature, Buffer.from([0])]), // too long
      Buffer.concat([Buffer.from([0x30, 2 * bytes + 4, 0x02, bytes]), r, Buffer.from([0x02, bytes]), s]), // DER
      Buffer.alloc(0),
    ];
    expect(await verifyAll(keyId, alg, cases.map((sig) => ({ message, signature: sig })))).toEqual(cases.map(() => false));
  });

  it('is false for the wrong algorithm, an unknown key and NULL input', async () => {
    const message = Buffer.from('alg');
    const signature = signed(message);
    const other = alg === 'ES256' ? 'ES384' : 'ES256';
    const { rows } = await db.pool.query<Record<string, boolean | null>>(
      `SELECT auth._verify_ecdsa($1, $2, $3, $4) AS wrong_alg, auth._verify_ecdsa($1, 'RS256', $3, $4) AS rsa,
              auth._verify_ecdsa(-1, $5, $3, $4) AS unknown, auth._verify_ecdsa($1, $5, NULL, $4) AS null_input,
              auth._verify_ecdsa($1, $5, $3, $4) AS right_alg`,
      [keyId, other, message, signature, alg],
    );
    expect(rows[0]).toEqual({ wrong_alg: false, rsa: false, unknown: false, null_input: false, right_alg: true });
  });

  describe('registration refuses', () => {
    const refusal = async (key: Record<string, unknown>, registerAs: string = alg) => {
      const error = await pgError(register(key, registerAs));
      expect(error.code).toBe('22023');
      return error.message;
    };

    it('a point not on the curve', async () => {
      const y = (fromB64url(jwk.y) + 1n) % p;
      expect(await refusal({ ...jwk, y: b64url(octets(y, bytes)) })).toMatch(/not on/);
    });

    it('a coordinate not below p', async () => {
      expect(await refusal({ ...jwk, x: b64url(octets(p, bytes)) })).toMatch(/field prime/);
      expect(await refusal({ ...jwk, y: b64url(octets(2n ** BigInt(8 * bytes) - 1n, bytes)) })).toMatch(/field prime/);
    });

    it('coordinates of the wrong length', async () => {
      const x = Buffer.from(jwk.x, 'base64url');
      expect(await refusal({ ...jwk, x: b64url(x.subarray(1)) })).toMatch(/octets/);
      expect(await refusal({ ...jwk, x: b64url(Buffer.concat([Buffer.from([0]), x])) })).toMatch(/octets/);
    });

    it('non-canonical or missing base64url', async () => {
      expect(await refusal({ ...jwk, x: `${jwk.x}=` })).toMatch(/"x" is not canonical base64url/);
      expect(await refusal({ ...jwk, x: `${jwk.x.slice(0, -1)}+` })).toMatch(/"x" is not canonical base64url/);
      const noX: Record<string, unknown> = { ...jwk };
      delete noX.x;
      expect(await refusal(noX)).toMatch(/member "x" is missing or not a string/);
      expect(await refusal({ ...jwk, y: 42 })).toMatch(/member "y" is missing or not a string/);
    });

    it('a curve that does not match the algorithm, or a JWK alg that differs', async () => {
      const other = alg === 'ES256' ? 'ES384' : 'ES256';
      expect(await refusal(jwk, other)).toMatch(/crv/);
      expect(await refusal({ ...jwk, crv: 'P-256K' })).toMatch(/crv/);
      expect(await refusal({ ...jwk, alg: other })).toMatch(/alg/);
      expect(await refusal({ ...jwk, kty: 'OKP' })).toMatch(/kty/);
      expect(await refusal(jwk, 'RS256')).toMatch(/ECDSA/);
    });
  });
});

describe('end to end', () => {
  it('auth.verify accepts ES256, ES384 and ES512 tokens signed by jose, and refuses a tampered one', async () => {
    const issuer = await TestIssuer.create(db.pool, 'ec-issuer');
    for (const alg of ['ES256', 'ES384', 'ES512'] as const) {
      const kid = await issuer.addKey(alg);
      const token = await issuer.sign(kid, { sub: `user-${alg}` });
      const { rows } = await db.pool.query<{ claims: { sub: string } }>('SELECT auth.verify($1) AS claims', [token]);
      expect(rows[0]!.claims.sub).toBe(`user-${alg}`);

      const [header, payload, signature] = token.split('.') as [string, string, string];
      const sig = Buffer.from(signature, 'base64url');
      sig[sig.length - 1]! ^= 1;
      const tampered = `${header}.${payload}.${sig.toString('base64url')}`;
      const error = await pgError(db.pool.query('SELECT auth.verify($1)', [tampered]));
      expect(error.message).toBe('jwt rejected: bad_signature');
    }
  }, 60_000);
});

describe('point sums (auth._ec_sum)', () => {
  // Affine x and y of a Jacobian {X, Y, Z}, or null for O, computed in SQL.
  const SUM = `
    WITH c AS (SELECT * FROM auth._ec_curve('P-256')),
         g AS (SELECT array_agg(x ORDER BY idx) AS x, array_agg(y ORDER BY idx) AS y
                 FROM auth.ec_base_points WHERE crv = 'P-256' AND idx IN (1, 2, 3)),
         s AS (SELECT auth._ec_sum(c.p, c.m, c.m3, $1::numeric[], $2::numeric[]) AS pt, c.p FROM c),
         z AS (SELECT s.*, auth._mod_inverse(s.pt[3], s.p) AS zi FROM s)
    SELECT CASE WHEN zi IS NULL THEN NULL ELSE mod(mod(pt[1] * zi * zi, p) + p, p)::text END AS x,
           CASE WHEN zi IS NULL THEN NULL ELSE mod(mod(pt[2] * zi * zi * zi, p) + p, p)::text END AS y,
           (SELECT x::text[] FROM g) AS gx, (SELECT y::text[] FROM g) AS gy
      FROM z`;

  it('adds through the careful path when points repeat or cancel', async () => {
    await db.pool.query(`SELECT auth._ec_ensure_base_table('P-256')`);
    const { rows: base } = await db.pool.query<{ gx: string[]; gy: string[] }>(SUM, ['{1}', '{1}']);
    const [g1x, g2x, g3x] = base[0]!.gx;
    const [g1y, g2y, g3y] = base[0]!.gy;
    const sum = async (xs: string[], ys: string[]) => {
      const { rows } = await db.pool.query<{ x: string | null; y: string | null }>(SUM, [xs, ys]);
      return rows[0]!.x === null ? null : [rows[0]!.x, rows[0]!.y];
    };
    expect(await sum([g1x!, g2x!], [g1y!, g2y!])).toEqual([g3x, g3y]); // G + 2G, the fast path
    expect(await sum([g1x!, g1x!], [g1y!, g1y!])).toEqual([g2x, g2y]); // G + G doubles
    expect(await sum([g1x!, g1x!], [g1y!, `-${g1y}`])).toBeNull(); // G − G = O
    expect(await sum([g1x!, g1x!, g2x!], [g1y!, `-${g1y}`, g2y!])).toEqual([g2x, g2y]); // O + 2G
    expect(await sum([g2x!, g1x!, g1x!], [g2y!, `-${g1y}`, `-${g1y}`])).toBeNull(); // 2G − G − G
    expect(await sum([g1x!, g1x!, g1x!], [g1y!, g1y!, g1y!])).toEqual([g3x, g3y]); // G + G + G
  });
});
