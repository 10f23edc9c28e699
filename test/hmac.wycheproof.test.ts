// HS256/384/512 on Wycheproof's HMAC vectors: the primitive on every full-length-tag group, the
// registered-key path on every key the JWS rules allow (RFC 7518 §3.2: key ≥ hash size), and
// truncated tags always refused (a JWS MAC is never truncated).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { base64url } from 'jose';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { expectedVerdict, loadVectors } from './support/wycheproof.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await db.pool.query(`SELECT auth.add_provider('wycheproof', 'https://wycheproof.test')`);
  // a key per vector key: more than the default 32 keys per provider (docs/security.md §12)
  await db.pool.query(`UPDATE auth.providers SET max_keys = 1000 WHERE name = 'wycheproof'`);
});
afterAll(async () => db?.drop());

const SUITES = [
  { file: 'hmac_sha256_test.json', hash: 'sha256', alg: 'HS256', bits: 256 },
  { file: 'hmac_sha384_test.json', hash: 'sha384', alg: 'HS384', bits: 384 },
  { file: 'hmac_sha512_test.json', hash: 'sha512', alg: 'HS512', bits: 512 },
];

describe.each(SUITES)('$alg', ({ file, hash, alg, bits }) => {
  const groups = loadVectors(file).testGroups;

  it('the HMAC primitive gives every full-length-tag vector its verdict', async () => {
    let checked = 0;
    for (const group of groups.filter((g) => g.tagSize === bits)) {
      const { rows } = await db.pool.query<{ ok: boolean }>(
        `SELECT auth._constant_time_equal(
                  auth._hmac($1, (p).ipad_key, (p).opad_key, decode(t.msg, 'hex')), decode(t.tag, 'hex')) AS ok
           FROM unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS t(key, msg, tag, i)
           CROSS JOIN LATERAL (SELECT auth._hmac_padded_keys($1, decode(t.key, 'hex')) AS p) AS k
          ORDER BY t.i`,
        [hash, group.tests.map((t) => t.key), group.tests.map((t) => t.msg), group.tests.map((t) => t.tag)],
      );
      group.tests.forEach((test, index) => {
        expect(rows[index]!.ok, `tcId ${test.tcId} ${test.comment}`).toBe(expectedVerdict(test));
        checked++;
      });
    }
    expect(checked).toBeGreaterThan(80);
  });

  it('a registered oct key verifies exactly the valid vectors, and refuses truncated tags', async () => {
    let checked = 0;
    const keyIds = new Map<string, string>(); // a key reused by several vectors is registered once
    const register = async (keyHex: string): Promise<string> => {
      if (!keyIds.has(keyHex)) {
        const added = await db.pool.query<{ id: string }>(`SELECT auth.add_key('wycheproof', $1::jsonb) AS id`, [
          JSON.stringify({ kty: 'oct', kid: `${alg}-${keyIds.size}`, alg, k: base64url.encode(Buffer.from(keyHex, 'hex')) }),
        ]);
        keyIds.set(keyHex, added.rows[0]!.id);
      }
      return keyIds.get(keyHex)!;
    };
    for (const group of groups.filter((g) => (g.keySize as number) >= bits)) {
      for (const test of group.tests) {
        const { rows } = await db.pool.query<{ ok: boolean }>(
          `SELECT auth._verify_hmac($1, $2, decode($3, 'hex'), decode($4, 'hex')) AS ok`,
          [await register(test.key as string), alg, test.msg, test.tag],
        );
        const expected = group.tagSize === bits && expectedVerdict(test);
        expect(rows[0]!.ok, `tcId ${test.tcId} (tag ${group.tagSize} bits)`).toBe(expected);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(80);
  });

  it('refuses to register a secret shorter than the hash (RFC 7518 §3.2)', async () => {
    const short = base64url.encode(Buffer.alloc(bits / 8 - 1, 1));
    await expect(
      db.pool.query(`SELECT auth.add_key('wycheproof', $1::jsonb)`, [JSON.stringify({ kty: 'oct', kid: `short-${alg}`, alg, k: short })]),
    ).rejects.toThrow(/at least/);
  });
});
