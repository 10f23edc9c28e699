// The bignum layer under RSA: OS2IP / I2OSP (RFC 8017 §4, sql/functions/10_bignum.sql) and
// modular exponentiation with base-10 Barrett reduction (sql/functions/35_field.sql), checked
// against BigInt.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/db.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

const modPow = (base: bigint, exponent: bigint, modulus: bigint): bigint => {
  let result = 1n;
  for (let b = base % modulus, x = exponent; x > 0n; x >>= 1n, b = (b * b) % modulus) if (x & 1n) result = (result * b) % modulus;
  return result;
};
const randomBig = (bytes: number): bigint => BigInt(`0x${randomBytes(bytes).toString('hex')}`);

describe('OS2IP / I2OSP (RFC 8017 §4)', () => {
  it('round-trip octet strings of every length up to 300 octets, and 1024', async () => {
    const lengths = [...Array.from({ length: 301 }, (_, i) => i), 1024];
    const samples = lengths.map((length, i) => {
      const bytes = Buffer.alloc(length);
      for (let j = 0; j < length; j++) bytes[j] = (j * 151 + i * 7 + 13) & 0xff;
      if (length > 2 && i % 3 === 0) bytes.fill(0, 0, 2); // leading zeros
      if (length > 0 && i % 5 === 0) bytes.fill(0xff);
      return bytes;
    });
    const { rows } = await db.pool.query<{ value: string; back: Buffer }>(
      `SELECT auth._bytes_to_numeric(b)::text AS value, auth._numeric_to_bytes(auth._bytes_to_numeric(b), length(b)) AS back
         FROM unnest($1::bytea[]) WITH ORDINALITY AS t (b, i) ORDER BY i`,
      [samples],
    );
    rows.forEach((row, i) => {
      const bytes = samples[i]!;
      const expected = bytes.length === 0 ? 0n : BigInt(`0x${bytes.toString('hex')}`);
      expect(row.value, `length ${bytes.length}`).toBe(expected.toString());
      expect(row.back.equals(bytes), `length ${bytes.length}`).toBe(true);
    });
  });

  it('I2OSP pads with zeros and refuses what does not fit', async () => {
    const { rows } = await db.pool.query(
      `SELECT auth._numeric_to_bytes(0, 3) AS zero, auth._numeric_to_bytes(258, 3) AS small,
              auth._numeric_to_bytes(256, 1) AS too_large, auth._numeric_to_bytes(255, 1) AS fits,
              auth._numeric_to_bytes(-1, 4) AS negative, auth._numeric_to_bytes(1.5, 4) AS fraction,
              auth._numeric_to_bytes(2::numeric ^ 2048 - 1, 256) = decode(repeat('ff', 256), 'hex') AS big,
              auth._numeric_to_bytes(2::numeric ^ 2048, 256) AS big_too_large`,
    );
    expect(rows[0]).toEqual({
      zero: Buffer.from([0, 0, 0]),
      small: Buffer.from([0, 1, 2]),
      too_large: null,
      fits: Buffer.from([255]),
      negative: null,
      fraction: null,
      big: true,
      big_too_large: null,
    });
  });
});

describe('modular exponentiation with Barrett reduction', () => {
  it('agrees with BigInt, moduli near powers of ten and two included', async () => {
    const moduli = [
      10n ** 616n + 1n, // just above 10^(d-1): the Barrett estimate is loosest
      10n ** 617n - 1n, // just below 10^d
      2n ** 2048n - 1n,
      2n ** 2047n + 1n,
      randomBig(256) | 1n,
      randomBig(384) | 1n,
      randomBig(1024) | (1n << 8191n) | 1n,
      10n ** 5n + 3n,
      99_999n,
      7n,
    ];
    const exponents = [3n, 65537n, randomBig(4) | 1n, 2n, 6n, 0xffffn];
    const cases: [bigint, bigint, bigint][] = [];
    for (const n of moduli) {
      for (const e of exponents) {
        for (const b of [0n, 1n, 2n, n - 1n, n - 2n, n / 2n, n / 3n, randomBig(1100) % n]) cases.push([b, e, n]);
      }
    }
    const { rows } = await db.pool.query<{ result: string }>(
      `SELECT auth._mod_pow(b::numeric, e::varbit, n::numeric, auth._barrett_mu(n::numeric), auth._decimal_digits(n::numeric))::text AS result
         FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS t (b, e, n, i) ORDER BY i`,
      [cases.map(([b]) => b.toString()), cases.map(([, e]) => e.toString(2)), cases.map(([, , n]) => n.toString())],
    );
    cases.forEach(([b, e, n], i) => {
      expect(rows[i]!.result, `${b} ^ ${e} mod ${n}`).toBe(modPow(b, e, n).toString());
    });
  });
});
