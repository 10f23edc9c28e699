// Wycheproof's RSA vectors against auth._verify_rsa_pkcs1 (RSASSA-PKCS1-v1_5, RFC 8017 §8.2.2)
// and auth._verify_rsa_pss (RSASSA-PSS with MGF1, sLen = hLen, RFC 8017 §8.1.2).
// valid must verify; invalid and acceptable must not. One query per group.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { insertProviderRow, registerKeyRow } from './support/key-rows.js';
import { expectedVerdict, loadVectors, type WycheproofFile, type WycheproofTest } from './support/wycheproof.js';

interface RsaJwk {
  kty: string;
  alg: string;
  n: string;
  e: string;
}
interface RsaGroup {
  keySize: number;
  sha: string;
  publicKey: { modulus: string; publicExponent: string };
  publicKeyJwk?: RsaJwk; // RSASSA-PSS files
  keyJwk?: RsaJwk; // RSASSA-PKCS1-v1_5 files
  sLen?: number;
  mgfSha?: string;
  tests: (WycheproofTest & { msg: string; sig: string })[];
}

const FILES = [
  'rsa_signature_2048_sha256_test.json',
  'rsa_signature_2048_sha384_test.json',
  'rsa_signature_2048_sha512_test.json',
  'rsa_signature_3072_sha256_test.json',
  'rsa_signature_4096_sha256_test.json',
  'rsa_pss_2048_sha256_mgf1_32_test.json',
  'rsa_pss_2048_sha384_mgf1_48_test.json',
  'rsa_pss_3072_sha256_mgf1_32_test.json',
];

const load = (file: string) => loadVectors<RsaGroup>(file);

/** The JWS alg of a group: RS* for PKCS#1 v1.5 files, PS* for PSS files (hash from `sha`). */
function algOf(file: WycheproofFile<RsaGroup>, group: RsaGroup): string {
  const bits = group.sha.replace('SHA-', '');
  return (file.algorithm === 'RSASSA-PSS' ? 'PS' : 'RS') + bits;
}

/** Strips the DER sign octet Wycheproof's hex integers carry. */
const unsignedHex = (hex: string): string => hex.replace(/^(00)+(?=[0-9a-f]{2})/, '');

let db: TestDatabase;
let providerId: number;
let keyCounter = 0;
const tally = { valid: 0, invalid: 0, acceptable: 0 };

async function registerKey(alg: string, jwk: RsaJwk): Promise<number> {
  const kid = `wycheproof-${++keyCounter}`;
  return registerKeyRow(db.pool, { providerId, kid, alg, jwk: { ...jwk }, family: 'rsa' });
}

beforeAll(async () => {
  db = await createTestDatabase();
  providerId = await insertProviderRow(db.pool, 'wycheproof');
});
afterAll(async () => {
  await db?.drop();
});

for (const name of FILES) {
  describe(`Wycheproof ${name}`, () => {
    const file = load(name);

    it('has the vectors this suite expects', () => {
      const count = file.testGroups.reduce((n, group) => n + group.tests.length, 0);
      expect(count).toBe(file.numberOfTests);
      expect(count).toBeGreaterThan(100);
    });

    file.testGroups.forEach((group, index) => {
      const alg = algOf(file, group);
      it(`group ${index}: ${alg}, ${group.keySize}-bit key, e = 0x${group.publicKey.publicExponent} (${group.tests.length} tests)`, async () => {
        if (group.sLen !== undefined) expect(group.sLen * 8).toBe(Number(alg.slice(2))); // sLen = hLen
        if (group.mgfSha !== undefined) expect(group.mgfSha).toBe(group.sha);
        const jwk = group.publicKeyJwk ?? group.keyJwk;
        if (!jwk) throw new Error(`group ${index} has no JWK`);
        // the JWK is the same key as the hex fields
        expect(Buffer.from(jwk.n, 'base64url').toString('hex')).toBe(unsignedHex(group.publicKey.modulus));
        expect(Buffer.from(jwk.e, 'base64url').toString('hex')).toBe(unsignedHex(group.publicKey.publicExponent));
        expect(jwk.alg).toBe(alg);
        const keyId = await registerKey(alg, jwk);
        const verify = alg.startsWith('PS') ? 'auth._verify_rsa_pss' : 'auth._verify_rsa_pkcs1';
        const { rows } = await db.pool.query<{ verdicts: boolean[] }>(
          `SELECT array_agg(${verify}($1, $2, decode(t.msg, 'hex'), decode(t.sig, 'hex')) ORDER BY t.n) AS verdicts
             FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS t (msg, sig, n)`,
          [keyId, alg, group.tests.map((t) => t.msg), group.tests.map((t) => t.sig)],
        );
        const verdicts = rows[0]!.verdicts;
        expect(verdicts).toHaveLength(group.tests.length);
        group.tests.forEach((test, i) => {
          tally[test.result] += 1;
          expect(verdicts[i], `${name} group ${index} tcId ${test.tcId} (${test.result}; ${test.flags.join(', ')}): ${test.comment}`)
            .toBe(expectedVerdict(test));
        });
      });
    });
  });
}

describe('Wycheproof RSA totals', () => {
  it('ran every vector of every file', () => {
    const total = FILES.reduce((n, name) => n + load(name).numberOfTests, 0);
    expect(tally.valid + tally.invalid + tally.acceptable).toBe(total);
  });
});
