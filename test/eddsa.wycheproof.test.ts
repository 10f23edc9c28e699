// Wycheproof's Ed25519 vectors (RFC 8032 §5.1.7 verification) against auth._verify_eddsa.
// valid must verify; invalid (and acceptable, of which this file has none) must not.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { insertProviderRow, registerKeyRow } from './support/key-rows.js';
import { expectedVerdict, loadVectors, type WycheproofTest } from './support/wycheproof.js';

interface Ed25519Group {
  publicKey: { pk: string };
  publicKeyJwk: { kty: string; crv: string; x: string };
  tests: (WycheproofTest & { msg: string; sig: string })[];
}

const vectors = loadVectors<Ed25519Group>('ed25519_test.json');

let db: TestDatabase;
let providerId: number;
const keyIds = new Map<string, number>();

/** Registers the key once (several groups share one): a row in auth.keys, then the OKP material. */
async function keyFor(group: Ed25519Group): Promise<number> {
  const pk = group.publicKey.pk;
  const known = keyIds.get(pk);
  if (known !== undefined) return known;
  const jwk = { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(pk, 'hex').toString('base64url') };
  const id = await registerKeyRow(db.pool, { providerId, kid: `wycheproof-${pk}`, alg: 'EdDSA', jwk, family: 'okp' });
  keyIds.set(pk, id);
  return id;
}

beforeAll(async () => {
  db = await createTestDatabase();
  providerId = await insertProviderRow(db.pool, 'wycheproof');
});
afterAll(async () => db?.drop());

describe('Wycheproof ed25519_test.json', () => {
  it('has the vectors this suite expects', () => {
    const count = vectors.testGroups.reduce((n, group) => n + group.tests.length, 0);
    expect(count).toBe(vectors.numberOfTests);
    expect(count).toBeGreaterThan(100);
  });

  vectors.testGroups.forEach((group, index) => {
    it(`group ${index} (key ${group.publicKey.pk.slice(0, 16)}…, ${group.tests.length} tests)`, async () => {
      // the JWK Wycheproof ships is the same key
      expect(Buffer.from(group.publicKeyJwk.x, 'base64url').toString('hex')).toBe(group.publicKey.pk);
      const keyId = await keyFor(group);
      const { rows } = await db.pool.query<{ verdicts: boolean[] }>(
        `SELECT array_agg(auth._verify_eddsa($1, 'EdDSA', decode(t.msg, 'hex'), decode(t.sig, 'hex')) ORDER BY t.n) AS verdicts
           FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS t (msg, sig, n)`,
        [keyId, group.tests.map((t) => t.msg), group.tests.map((t) => t.sig)],
      );
      const verdicts = rows[0]!.verdicts;
      group.tests.forEach((test, i) => {
        expect(verdicts[i], `group ${index} tcId ${test.tcId} (${test.result}; ${test.flags.join(', ')}): ${test.comment}`)
          .toBe(expectedVerdict(test));
      });
    });
  });
});
