// Wycheproof's ECDSA vectors in the JOSE signature form (IEEE P1363: r ‖ s, RFC 7518 §3.4) against
// auth._register_ec_key and auth._verify_ecdsa: valid must verify; invalid and acceptable must not;
// a group whose public key is invalid must be refused at registration. One query per group.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { expectedVerdict, loadVectors, type WycheproofGroup } from './support/wycheproof.js';
import { insertProviderRow, registerKeyRow } from './support/key-rows.js';

const SUITES = [
  { file: 'ecdsa_secp256r1_sha256_p1363_test.json', alg: 'ES256', crv: 'P-256', bytes: 32 },
  { file: 'ecdsa_secp384r1_sha384_p1363_test.json', alg: 'ES384', crv: 'P-384', bytes: 48 },
  { file: 'ecdsa_secp521r1_sha512_p1363_test.json', alg: 'ES512', crv: 'P-521', bytes: 66 },
];

let db: TestDatabase;
let providerId: number;
let keyCount = 0;

beforeAll(async () => {
  db = await createTestDatabase();
  providerId = await insertProviderRow(db.pool, 'wycheproof-ec');
}, 60_000);
afterAll(async () => db?.drop());

/** A group's key as a JWK: its own publicKeyJwk, else built from wx/wy (DER sign octets dropped). */
function groupJwk(group: WycheproofGroup, crv: string, bytes: number): Record<string, unknown> {
  if (group.publicKeyJwk) return group.publicKeyJwk as Record<string, unknown>;
  const key = group.publicKey as { wx: string; wy: string };
  const coordinate = (hex: string) => {
    const digits = hex.replace(/^(00)+/, '');
    const even = digits.length % 2 === 1 ? `0${digits}` : digits;
    return Buffer.from(even.padStart(2 * bytes, '0'), 'hex').toString('base64url');
  };
  return { kty: 'EC', crv, x: coordinate(key.wx), y: coordinate(key.wy) };
}

/** Inserts a key row and registers it in one transaction; the key's id, or null when refused. */
async function register(jwk: Record<string, unknown>, alg: string): Promise<number | null> {
  keyCount += 1;
  try {
    return await registerKeyRow(db.pool, { providerId, kid: `wy-${keyCount}`, alg, jwk, family: 'ec' });
  } catch (error) {
    if ((error as { code?: string }).code !== '22023') throw error;
    return null;
  }
}

describe.each(SUITES)('$alg', ({ file, alg, crv, bytes }) => {
  it('gives every vector its verdict', async () => {
    const groups = loadVectors(file).testGroups;
    let checked = 0;
    let valid = 0;
    for (const [g, group] of groups.entries()) {
      const keyId = await register(groupJwk(group, crv, bytes), alg);
      let verdicts: boolean[];
      if (keyId === null) {
        verdicts = group.tests.map(() => false);
      } else {
        const { rows } = await db.pool.query<{ verdicts: boolean[] }>(
          `SELECT array_agg(auth._verify_ecdsa($1, $2, decode(t.msg, 'hex'), decode(t.sig, 'hex')) ORDER BY t.n) AS verdicts
             FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS t (msg, sig, n)`,
          [keyId, alg, group.tests.map((t) => t.msg), group.tests.map((t) => t.sig)],
        );
        verdicts = rows[0]!.verdicts;
      }
      group.tests.forEach((test, i) => {
        expect(verdicts[i], `group ${g} tcId ${test.tcId} (${test.result}) ${test.comment}`).toBe(expectedVerdict(test));
        if (verdicts[i]) valid++;
        checked++;
      });
    }
    expect(checked).toBe(groups.reduce((n, group) => n + group.tests.length, 0));
    expect(valid).toBeGreaterThan(50);
  }, 600_000);
});
