// Ed25519 (RFC 8032 §5.1) in SQL: key registration (RFC 8037 OKP JWKs) and verification.
// Wycheproof's vectors are in eddsa.wycheproof.test.ts.
import { createHash, sign, type KeyObject } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, installTestSql, pgError, type TestDatabase } from './support/db.js';
import { TestIssuer } from './support/tokens.js';
import { insertProviderRow, registerKeyRow } from './support/key-rows.js';
import { newKeyPairSync } from '../src/key-pair.js';

const p = 2n ** 255n - 19n;
const L = 2n ** 252n + 27742317777372353535851937790883648493n;

let db: TestDatabase;
let providerId: number;
let keyCount = 0;

const b64url = (bytes: Buffer) => bytes.toString('base64url');
const le = (bytes: Buffer) => BigInt(`0x${Buffer.from(bytes).reverse().toString('hex') || '0'}`);
const le32 = (n: bigint) => Buffer.from(n.toString(16).padStart(64, '0'), 'hex').reverse();

/** Inserts a key row and registers it; resolves to its id, or rejects with the registration error. */
async function register(jwk: Record<string, unknown>, alg = 'EdDSA'): Promise<number> {
  keyCount += 1;
  return registerKeyRow(db.pool, { providerId, kid: `k${keyCount}`, alg, jwk, family: 'okp' });
}

const registerHex = (pkHex: string) => register({ kty: 'OKP', crv: 'Ed25519', x: b64url(Buffer.from(pkHex, 'hex')) });

async function verify(keyId: number, message: Buffer, signature: Buffer | null, alg = 'EdDSA'): Promise<boolean> {
  const { rows } = await db.pool.query<{ ok: boolean }>('SELECT auth._verify_eddsa($1, $2, $3, $4) AS ok', [
    keyId,
    alg,
    message,
    signature,
  ]);
  return rows[0]!.ok;
}

/** Many verdicts in one query. */
async function verifyAll(keyId: number, items: { message: Buffer; signature: Buffer }[]): Promise<boolean[]> {
  const { rows } = await db.pool.query<{ verdicts: boolean[] }>(
    `SELECT array_agg(auth._verify_eddsa($1, 'EdDSA', t.m, t.s) ORDER BY t.n) AS verdicts
       FROM unnest($2::bytea[], $3::bytea[]) WITH ORDINALITY AS t (m, s, n)`,
    [keyId, items.map((i) => i.message), items.map((i) => i.signature)],
  );
  return rows[0]!.verdicts;
}

function nodeKey(): { privateKey: KeyObject; x: string; a: bigint; pk: Buffer } {
  const { privateKey, publicKey } = newKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' }) as { d: string; x: string };
  // RFC 8032 §5.1.5: the secret scalar is the clamped first half of SHA-512(seed)
  const h = createHash('sha512').update(Buffer.from(jwk.d, 'base64url')).digest();
  h[0]! &= 248;
  h[31]! &= 127;
  h[31]! |= 64;
  void publicKey;
  return { privateKey, x: jwk.x, a: le(h.subarray(0, 32)), pk: Buffer.from(jwk.x, 'base64url') };
}

beforeAll(async () => {
  db = await createTestDatabase();
  await installTestSql(db.pool, 'ed25519-helpers.sql');
  providerId = await insertProviderRow(db.pool, 'ed');
});
afterAll(async () => db?.drop());

describe('RFC 8032 §7.1 test vectors', () => {
  const vectors = [
    {
      name: 'TEST 1',
      pk: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
      msg: '',
      sig: 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    },
    {
      name: 'TEST 2',
      pk: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
      msg: '72',
      sig: '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
    },
    {
      name: 'TEST 3',
      pk: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
      msg: 'af82',
      sig: '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
    },
  ];
  for (const v of vectors) {
    it(`${v.name} verifies, and not with another message`, async () => {
      const id = await registerHex(v.pk);
      expect(await verify(id, Buffer.from(v.msg, 'hex'), Buffer.from(v.sig, 'hex'))).toBe(true);
      expect(await verify(id, Buffer.from(`${v.msg}00`, 'hex'), Buffer.from(v.sig, 'hex'))).toBe(false);
    });
  }
});

describe('signatures minted by node:crypto', () => {
  it('verify, and every flipped bit of the signature or message fails', async () => {
    const key = nodeKey();
    const id = await register({ kty: 'OKP', crv: 'Ed25519', x: key.x, alg: 'EdDSA' });
    const good = Array.from({ length: 12 }, (_, i) => {
      const message = Buffer.from(`eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1c2VyLSR7aX0ifQ.${i}`.repeat(i + 1));
      return { message, signature: sign(null, message, key.privateKey) };
    });
    expect(await verifyAll(id, good)).toEqual(good.map(() => true));
    const { message, signature } = good[0]!;
    const flipped: { message: Buffer; signature: Buffer }[] = [];
    for (let bit = 0; bit < 512; bit += 7) {
      const s = Buffer.from(signature);
      s[bit >> 3]! ^= 1 << (bit & 7);
      flipped.push({ message, signature: s });
    }
    for (const bit of [0, 9, 100, 255]) {
      const m = Buffer.from(message);
      m[(bit >> 3) % m.length]! ^= 1 << (bit & 7);
      flipped.push({ message: m, signature });
    }
    expect(await verifyAll(id, flipped)).toEqual(flipped.map(() => false));
  });

  it('a signature made with another key fails', async () => {
    const mine = nodeKey();
    const other = nodeKey();
    const id = await register({ kty: 'OKP', crv: 'Ed25519', x: mine.x });
    const message = Buffer.from('hello');
    expect(await verify(id, message, sign(null, message, other.privateKey))).toBe(false);
    expect(await verify(id, message, sign(null, message, mine.privateKey))).toBe(true);
  });
});

describe('verification fails closed', () => {
  let key: ReturnType<typeof nodeKey>;
  let id: number;
  const message = Buffer.from('eyJhbGciOiJFZERTQSJ9.e30');
  let signature: Buffer;

  beforeAll(async () => {
    key = nodeKey();
    id = await register({ kty: 'OKP', crv: 'Ed25519', x: key.x });
    signature = sign(null, message, key.privateKey);
  });

  it('rejects S >= L (malleability, RFC 8032 §5.1.7 step 1)', async () => {
    const s = le(signature.subarray(32));
    const forged = [s + L, L, 2n ** 256n - 1n]
      .filter((value) => value < 2n ** 256n)
      .map((value) => ({ message, signature: Buffer.concat([signature.subarray(0, 32), le32(value)]) }));
    expect(await verifyAll(id, forged)).toEqual(forged.map(() => false));
    expect(await verify(id, message, signature)).toBe(true);
  });

  it('rejects a non-canonical R (y >= p) that a lenient decoder would reduce to a valid R', async () => {
    // A signature whose R is the identity (r = 0, so S = k a): valid with R = ENC(0, 1) = 01 00…00,
    // and the same equation holds for R encoded as y = p + 1 (ee ff…ff 7f), which must be rejected.
    const sigWithR = (r: Buffer) => {
      const k = le(createHash('sha512').update(Buffer.concat([r, key.pk, message])).digest()) % L;
      return Buffer.concat([r, le32((k * key.a) % L)]);
    };
    const canonical = le32(1n);
    const nonCanonical = le32(p + 1n);
    expect(await verify(id, message, sigWithR(canonical))).toBe(true);
    expect(await verify(id, message, sigWithR(nonCanonical))).toBe(false);
    // y = p, and the identity with the sign bit set (x = 0, x_0 = 1)
    expect(await verify(id, message, sigWithR(le32(p)))).toBe(false);
    expect(await verify(id, message, sigWithR(le32(1n + 2n ** 255n)))).toBe(false);
  });

  it('returns false, never raises, for malformed input', async () => {
    expect(await verify(id, message, signature.subarray(0, 63))).toBe(false);
    expect(await verify(id, message, Buffer.concat([signature, Buffer.alloc(1)]))).toBe(false);
    expect(await verify(id, message, Buffer.alloc(0))).toBe(false);
    expect(await verify(id, message, Buffer.alloc(64, 0xff))).toBe(false);
    expect(await verify(id, message, Buffer.alloc(64))).toBe(false);
    expect(await verify(id, message, null)).toBe(false);
    expect(await verify(id, message, signature, 'ES256')).toBe(false);
    expect(await verify(-1, message, signature)).toBe(false);
  });
});

describe('key registration (RFC 8037 §2, RFC 8032 §5.1.3)', () => {
  const small = [
    ['the identity', '0100000000000000000000000000000000000000000000000000000000000000'],
    ['(0, -1), order 2', 'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'],
    ['y = 0, order 4', '0000000000000000000000000000000000000000000000000000000000000000'],
    ['y = 0 with the sign bit, order 4', '0000000000000000000000000000000000000000000000000000000000000080'],
    ['order 8', '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05'],
    ['order 8', '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85'],
    ['order 8', 'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a'],
    ['order 8', 'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa'],
  ];
  for (const [name, pk] of small) {
    it(`rejects a small-order key: ${name}`, async () => {
      const error = await pgError(registerHex(pk!));
      expect(error.code).toBe('22023');
      expect(error.message).toMatch(/small order/);
    });
  }

  it('rejects a key outside the prime-order subgroup ([7]B plus a point of order 8)', async () => {
    expect(await registerHex('b862409fb5c4c4123df2abf7462b88f041ad36dd6864ce872fd5472be363c5b1')).toBeGreaterThan(0);
    const error = await pgError(registerHex('e9b2fe981587efae6478f48ba1fa60cec6126d0e26dde72a0a24f640dcd783e5'));
    expect(error).toMatchObject({ code: '22023', message: expect.stringMatching(/prime-order subgroup/) });
  });

  it('rejects encodings that do not decode', async () => {
    const cases: [string, RegExp][] = [
      ['edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', /non-canonical.*y >= p/], // y = p
      ['eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', /non-canonical.*y >= p/], // y = p + 1
      ['0100000000000000000000000000000000000000000000000000000000000080', /x = 0 with the sign bit/],
      ['0200000000000000000000000000000000000000000000000000000000000000', /not a point/], // y = 2
    ];
    for (const [pk, message] of cases) {
      const error = await pgError(registerHex(pk));
      expect(error.code, pk).toBe('22023');
      expect(error.message, pk).toMatch(message);
    }
  });

  it('checks kty, crv, alg and x', async () => {
    const x = nodeKey().x;
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ kty: 'EC', crv: 'Ed25519', x }, 'EdDSA', /kty/],
      [{ kty: 'OKP', crv: 'X25519', x }, 'EdDSA', /curve X25519/],
      [{ kty: 'OKP', crv: 'Ed448', x }, 'EdDSA', /curve Ed448/],
      [{ kty: 'OKP', x }, 'EdDSA', /curve/],
      [{ kty: 'OKP', crv: 'Ed25519', x, alg: 'Ed25519' }, 'EdDSA', /"alg"/],
      [{ kty: 'OKP', crv: 'Ed25519', x, alg: 'ES256' }, 'EdDSA', /"alg"/],
      [{ kty: 'OKP', crv: 'Ed25519', x }, 'ES256', /cannot be used with ES256/],
      [{ kty: 'OKP', crv: 'Ed25519' }, 'EdDSA', /"x"/],
      [{ kty: 'OKP', crv: 'Ed25519', x: 42 }, 'EdDSA', /"x"/],
      [{ kty: 'OKP', crv: 'Ed25519', x: `${x}=` }, 'EdDSA', /base64url/],
      [{ kty: 'OKP', crv: 'Ed25519', x: Buffer.from(x, 'base64url').toString('base64') + 'A' }, 'EdDSA', /base64url|32 octets/],
      [{ kty: 'OKP', crv: 'Ed25519', x: b64url(Buffer.alloc(31, 1)) }, 'EdDSA', /32 octets/],
      [{ kty: 'OKP', crv: 'Ed25519', x: b64url(Buffer.alloc(33, 1)) }, 'EdDSA', /32 octets/],
    ];
    for (const [jwk, alg, message] of cases) {
      const error = await pgError(register(jwk, alg === 'ES256' ? 'ES256' : alg));
      expect(error.code, JSON.stringify(jwk)).toBe('22023');
      expect(error.message, JSON.stringify(jwk)).toMatch(message);
    }
  });

  it('base64url: a non-canonical last character (unused bits set) is rejected', async () => {
    const x = nodeKey().x; // 43 characters: the last one carries 4 unused bits... of which 2 here
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(x[42]!);
    const twisted = x.slice(0, 42) + alphabet[last | 1];
    const error = await pgError(register({ kty: 'OKP', crv: 'Ed25519', x: twisted }));
    expect(error).toMatchObject({ code: '22023', message: expect.stringMatching(/base64url/) });
  });

  it('stores the decoded key and 4096 multiples of -A; deleting the key removes them', async () => {
    const key = nodeKey();
    const id = await register({ kty: 'OKP', crv: 'Ed25519', x: key.x });
    const { rows } = await db.pool.query(
      `SELECT encode(o.a, 'hex') AS a, (SELECT count(*) FROM auth.okp_key_multiples m WHERE m.key_id = o.key_id)::int AS n
         FROM auth.okp_keys o WHERE o.key_id = $1`,
      [id],
    );
    expect(rows[0]).toEqual({ a: key.pk.toString('hex'), n: 4096 });
    await db.pool.query('DELETE FROM auth.keys WHERE id = $1', [id]);
    const left = await db.pool.query('SELECT count(*)::int AS n FROM auth.okp_key_multiples WHERE key_id = $1', [id]);
    expect(left.rows[0].n).toBe(0);
  });
});

describe('EdDSA tokens end to end', () => {
  it('auth.verify accepts an EdDSA JWT and rejects a tampered one', async () => {
    const issuer = await TestIssuer.create(db.pool, 'ed-issuer');
    const kid = await issuer.addKey('EdDSA');
    const token = await issuer.sign(kid, { sub: 'alice' });
    const { rows } = await db.pool.query('SELECT auth.verify($1) AS claims', [token]);
    expect(rows[0].claims.sub).toBe('alice');
    const [h, pl, s] = token.split('.');
    const sig = Buffer.from(s!, 'base64url');
    sig[5]! ^= 1;
    const error = await pgError(db.pool.query('SELECT auth.verify($1)', [`${h}.${pl}.${b64url(sig)}`]));
    expect(error).toMatchObject({ code: '28000', message: 'jwt rejected: bad_signature' });
  });
});

describe('curve helpers (45_ed25519.sql, 35_field.sql)', () => {
  it('signed radix-256 digits recompose the scalar; ENC/DECODE round-trip the base point', async () => {
    const scalars = [0n, 1n, 127n, 128n, 255n, 256n, L - 1n, 2n ** 252n, (L * 3n) / 7n, 0x80808080n];
    const { rows } = await db.pool.query<{ digits: number[] }>(
      'SELECT auth._ed25519_radix256(s::numeric) AS digits FROM unnest($1::text[]) WITH ORDINALITY AS t (s, n) ORDER BY n',
      [scalars.map(String)],
    );
    rows.forEach(({ digits }, i) => {
      expect(digits).toHaveLength(32);
      expect(digits.every((d) => d >= -128 && d <= 127)).toBe(true);
      expect(digits.reduce((sum, d, j) => sum + BigInt(d) * 256n ** BigInt(j), 0n)).toBe(scalars[i]);
    });
    const base = await db.pool.query(
      `SELECT encode(auth._ed25519_encode(auth._ed25519_bx(), auth._ed25519_by()), 'hex') AS enc, d.x::text AS x, d.y::text AS y
         FROM auth._ed25519_decode(decode('5866666666666666666666666666666666666666666666666666666666666666', 'hex')) AS d`,
    );
    expect(base.rows[0]).toEqual({
      enc: '5866666666666666666666666666666666666666666666666666666666666666',
      x: '15112221349535400772501151409588531511454012693041857206046113283949847762202',
      y: '46316835694926478169428394003475163141307993866256225615783033603165251855960',
    });
  });

  it('inverts field elements: extended Euclid agrees with Fermat and z * (1/z) = 1', async () => {
    const { rows } = await db.pool.query<{ ok: boolean; n: string }>(
      `SELECT bool_and(mod(z * inv - 1, p) = 0 AND mod(inv - auth._ed25519_fe_pow(z), p) = 0) AS ok, count(*) AS n
         FROM (SELECT z, auth._mod_inverse(z, auth._ed25519_p()) AS inv, auth._ed25519_p() AS p
                 FROM (SELECT mod(auth._ed25519_bx() * (auth._ed25519_by() + i), auth._ed25519_p()) - (i % 2) * auth._ed25519_p() AS z
                         FROM generate_series(1, 40) AS i
                       UNION ALL VALUES (1::numeric), (2), (auth._ed25519_p() - 1), (auth._ed25519_p() + 5)) AS s) AS t`,
    );
    expect(rows[0]).toEqual({ ok: true, n: '44' });
  });
});
