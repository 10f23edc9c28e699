// Every rejection code of the contract, from tokens minted by jose and by hand.
import { createHmac } from 'node:crypto';
import { base64url, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { rawToken, TestIssuer, verdictOf } from './support/tokens.js';
import { writeCacheSlot } from './support/vcache.js';

let db: TestDatabase;
let idp: TestIssuer;
let other: TestIssuer;
let hsKid: string;

beforeAll(async () => {
  db = await createTestDatabase();
  idp = await TestIssuer.create(db.pool, 'idp');
  other = await TestIssuer.create(db.pool, 'other');
  hsKid = await idp.addKey('HS256', 'hs-main');
});
afterAll(async () => db?.drop());

/** The rejection code auth.verify raises for this token, or 'accepted'. */
const verdict = (token: string): Promise<string> => verdictOf(db.pool, token);

/** A token signed by hand with the idp's HS256 secret (for payloads jose refuses to produce). */
function hsSigned(header: string | object, payload: string | object): string {
  const unsigned = rawToken(header, payload).slice(0, -1);
  const secret = idp.key(hsKid).privateKey.export();
  return `${unsigned}.${base64url.encode(createHmac('sha256', secret).update(unsigned).digest())}`;
}

const header = () => ({ alg: 'HS256', kid: 'hs-main', typ: 'JWT' });

describe('valid tokens', () => {
  it('accepts a token minted by jose and returns its claims', async () => {
    const token = await idp.sign(hsKid, { sub: 'alice', role: 'admin' });
    const { rows } = await db.pool.query('SELECT auth.verify($1) AS claims', [token]);
    expect(rows[0].claims).toMatchObject({ sub: 'alice', role: 'admin', iss: idp.issuer, aud: 'api' });
  });

  it('accepts aud as an array that contains the audience, and exp inside the leeway', async () => {
    const now = Math.floor(Date.now() / 1000);
    expect(await verdict(await idp.sign(hsKid, { aud: ['x', 'api'] }))).toBe('accepted');
    expect(await verdict(await idp.sign(hsKid, { exp: now - 10 }))).toBe('accepted');
  });

  it('accepts a token without kid, trying the provider keys of its alg', async () => {
    const token = await idp.sign(hsKid, {}, { kid: undefined });
    expect(JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString())).not.toHaveProperty('kid');
    expect(await verdict(token)).toBe('accepted');
  });

  it('ignores jku, x5u, jwk and x5c headers', async () => {
    const token = await idp.sign(hsKid, {}, { jku: 'https://evil.test/jwks', x5u: 'https://evil.test/c', jwk: { kty: 'oct', k: 'AAAA' } } as object);
    expect(await verdict(token)).toBe('accepted');
  });
});

describe('rejections before any cryptography', () => {
  it('malformed: wrong number of parts, bad base64url, non-JSON, non-object, duplicates, bad UTF-8', async () => {
    const claims = idp.claims();
    const good = await idp.sign(hsKid);
    const [h, p, s] = good.split('.');
    const cases = [
      'abc',
      `${h}.${p}`,
      `${h}.${p}.${s}.x`,
      `${h}=.${p}.${s}`,                            // padding
      `${h}.${p}.${s}==`,
      `${h}.${p!.replace(/.$/, '+')}.${s}`,          // base64, not base64url
      `${h}.${p}.${s!.slice(0, -1)}${s!.endsWith('A') ? 'B' : 'A'}`.replace(/.$/, 'B'), // non-canonical trailing bits (43 chars)
      hsSigned('not json', claims),
      hsSigned([header()], claims),
      hsSigned(header(), '[1,2]'),
      hsSigned('{"alg":"HS256","alg":"none","kid":"hs-main"}', claims),
      hsSigned(header(), `{"sub":"alice","sub":"admin","iss":"${idp.issuer}","aud":"api","exp":${claims.exp}}`),
      hsSigned(header(), `{"sub":"alice","\\u0073ub":"admin","iss":"${idp.issuer}","aud":"api","exp":${claims.exp}}`),
      hsSigned(header(), { ...claims, nested: { a: 1 } }).replace(/^[^.]+/, base64url.encode('{"alg":"HS256","kid":{"x":1,"x":2}}')),
      `${base64url.encode(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]))}.${p}.${s}`,   // invalid UTF-8
      hsSigned({ alg: 'HS256', kid: 7 }, claims),
      `${h}.${p}.`,
      hsSigned({ alg: 42 }, claims),
    ];
    for (const token of cases) expect(await verdict(token), token.slice(0, 60)).toBe('malformed');
  });

  it('malformed: duplicate members nested inside the claims', async () => {
    const claims = idp.claims();
    const payload = `{"sub":"alice","iss":"${idp.issuer}","aud":"api","exp":${claims.exp},"org":{"role":"user","role":"admin"}}`;
    expect(await verdict(hsSigned(header(), payload))).toBe('malformed');
  });

  it('too_large: a token over 16 KiB, before any decoding', async () => {
    expect(await verdict(await idp.sign(hsKid, { pad: 'x'.repeat(16_500) }))).toBe('too_large');
    expect(await verdict('a'.repeat(16_385))).toBe('too_large');
  });

  it('unsupported_algorithm: "none" in every casing, and unknown algorithms', async () => {
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      expect(await verdict(rawToken({ alg }, idp.claims(), ''))).toMatch(/^(unsupported_algorithm|malformed)$/);
      expect(await verdict(rawToken({ alg }, idp.claims(), 'c2ln'))).toBe('unsupported_algorithm');
    }
    expect(await verdict(hsSigned({ alg: 'HS1', kid: 'hs-main' }, idp.claims()))).toBe('unsupported_algorithm');
    expect(await verdict(hsSigned({ alg: 'hs256', kid: 'hs-main' }, idp.claims()))).toBe('unsupported_algorithm');
  });

  it('critical_header: crit, and b64 other than true', async () => {
    expect(await verdict(hsSigned({ ...header(), crit: ['exp'] }, idp.claims()))).toBe('critical_header');
    expect(await verdict(hsSigned({ ...header(), b64: false, crit: ['b64'] }, idp.claims()))).toBe('critical_header');
    expect(await verdict(hsSigned({ ...header(), b64: false }, idp.claims()))).toBe('critical_header');
  });
});

describe('every rejection is SQLSTATE 28000, whatever the input', () => {
  it('malformed, not 54001: nesting past the parsers\' stack, unsigned or signed', async () => {
    const deep = `{"x":${'{"a":'.repeat(2000)}1${'}'.repeat(2000)}}`;
    expect(await verdict(rawToken({ alg: 'HS256', kid: 'hs-main' }, deep, 'c2ln'))).toBe('malformed');
    expect(await verdict(rawToken(`{"alg":"HS256","x":${'['.repeat(6000)}${']'.repeat(6000)}}`, idp.claims(), 'c2ln'))).toBe('malformed');
    expect(await verdict(hsSigned(header(), `{"x":${'['.repeat(5000)}${']'.repeat(5000)}}`))).toBe('malformed');
  });

  it('malformed, not 22003: a number beyond numeric\'s range, in the payload or the header', async () => {
    expect(await verdict(rawToken({ alg: 'HS256', kid: 'hs-main' }, '{"exp":1e1000000}', 'c2ln'))).toBe('malformed');
    expect(await verdict(rawToken('{"alg":"HS256","n":-1e999999}', idp.claims(), 'c2ln'))).toBe('malformed');
    expect(await verdict(rawToken({ alg: 'HS256', kid: 'hs-main' }, '{"n":1e-1000000}', 'c2ln'))).toBe('malformed');
  });
});

describe('key selection', () => {
  it('unknown_issuer: no provider has the iss (and no provider has the kid)', async () => {
    expect(await verdict(await idp.sign(hsKid, { iss: 'https://nobody.test' }, { kid: 'kid-of-nobody' }))).toBe('unknown_issuer');
    expect(await verdict(await idp.sign(hsKid, { iss: 'https://nobody.test' }, { kid: undefined }))).toBe('unknown_issuer');
  });

  it('issuer_mismatch: the kid belongs to a provider with another issuer', async () => {
    const otherKid = await other.addKey('HS256', 'other-hs');
    const token = await other.sign(otherKid, { iss: 'https://not-registered.test' });
    expect(await verdict(token)).toBe('issuer_mismatch');
  });

  it('unknown_key: a kid the provider does not have', async () => {
    expect(await verdict(await idp.sign(hsKid, {}, { kid: 'nope' }))).toBe('unknown_key');
  });

  it('unsupported_algorithm: the key is pinned to another algorithm, or the allow-list excludes it', async () => {
    const hs384 = await idp.addKey('HS384', 'hs-384');
    // an HS256 token naming the HS384 key's kid, signed with that key's secret
    const secret = idp.key(hs384).privateKey.export();
    const unsigned = rawToken({ alg: 'HS256', kid: hs384 }, idp.claims()).slice(0, -1);
    const forged = `${unsigned}.${base64url.encode(createHmac('sha256', secret).update(unsigned).digest())}`;
    expect(await verdict(forged)).toBe('unsupported_algorithm');
    await db.pool.query(`UPDATE auth.providers SET algorithms = '{HS384}' WHERE name = 'idp'`);
    try {
      expect(await verdict(await idp.sign(hsKid))).toBe('unsupported_algorithm');
      expect(await verdict(await idp.sign(hs384))).toBe('accepted');
    } finally {
      await db.pool.query(`UPDATE auth.providers SET algorithms = NULL WHERE name = 'idp'`);
    }
  });

  it('key_revoked: revocation is immediate, even for a token verified (and cached) before', async () => {
    const kid = await idp.addKey('HS256', 'to-revoke');
    const token = await idp.sign(kid);
    const client = await db.pool.connect();
    try {
      await client.query('SELECT auth.verify($1)', [token]);
      await db.pool.query(`SELECT auth.revoke_key('to-revoke')`);
      const error = await client.query('SELECT auth.verify($1)', [token]).catch((e: Error) => e);
      expect((error as Error).message).toBe('jwt rejected: key_revoked');
    } finally {
      client.release();
    }
    expect(await verdict(await idp.sign(kid))).toBe('key_revoked');
  });

  it('unknown_key: a retired key stops after its grace period', async () => {
    const kid = await idp.addKey('HS256', 'retiring');
    const token = await idp.sign(kid);
    await db.pool.query(`UPDATE auth.keys SET status = 'retired', retired_at = now(), verify_until = now() + interval '1 hour' WHERE kid = 'retiring'`);
    expect(await verdict(token)).toBe('accepted');
    await db.pool.query(`UPDATE auth.keys SET verify_until = now() - interval '1 second' WHERE kid = 'retiring'`);
    expect(await verdict(token)).toBe('unknown_key');
  });
});

describe('signatures', () => {
  it('bad_signature: any flipped bit, another secret, a truncated MAC', async () => {
    const token = await idp.sign(hsKid);
    const [h, p, s] = token.split('.') as [string, string, string];
    const mac = Buffer.from(s, 'base64url');
    for (const bit of [0, 7, 100, 255]) {
      const flipped = Buffer.from(mac);
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      expect(await verdict(`${h}.${p}.${base64url.encode(flipped)}`)).toBe('bad_signature');
    }
    expect(await verdict(`${h}.${p}.${base64url.encode(mac.subarray(0, 16))}`)).toBe('bad_signature');
    const other = createHmac('sha256', 'another secret of thirty-two bytes!').update(`${h}.${p}`).digest();
    expect(await verdict(`${h}.${p}.${base64url.encode(other)}`)).toBe('bad_signature');
    // the claims changed after signing
    const tampered = base64url.encode(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: 'admin' }));
    expect(await verdict(`${h}.${tampered}.${s}`)).toBe('bad_signature');
  });

  it('a forged verified-token cache entry does not skip the signature check', async () => {
    const token = await idp.sign(hsKid, { sub: 'mallory' });
    const [h, p] = token.split('.');
    const forged = `${h}.${p}.${base64url.encode(Buffer.alloc(32))}`;
    const client = await db.pool.connect();
    try {
      const digest = (await client.query(`SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex') AS d`, [forged])).rows[0].d as string;
      const keyId = (await client.query(`SELECT id FROM auth.keys WHERE kid = 'hs-main'`)).rows[0].id;
      await writeCacheSlot(client, Buffer.from(digest, 'hex'),
        `${digest}|${'ab'.repeat(32)}|${keyId}|{"sub":"mallory","iss":"${idp.issuer}","aud":"api","exp":9999999999}`);
      const error = await client.query('SELECT auth.verify($1)', [forged]).catch((e: Error) => e);
      expect((error as Error).message).toBe('jwt rejected: bad_signature');
    } finally {
      client.release();
    }
  });
});

describe('claims', () => {
  const now = () => Math.floor(Date.now() / 1000);

  it('expired, not_yet_valid, issued_in_future, with a 30 s leeway', async () => {
    expect(await verdict(await idp.sign(hsKid, { exp: now() - 60 }))).toBe('expired');
    expect(await verdict(await idp.sign(hsKid, { nbf: now() + 120 }))).toBe('not_yet_valid');
    expect(await verdict(await idp.sign(hsKid, { nbf: now() + 10 }))).toBe('accepted');
    expect(await verdict(await idp.sign(hsKid, { iat: now() + 120 }))).toBe('issued_in_future');
  });

  it('audience_mismatch: aud names none of the provider audiences', async () => {
    expect(await verdict(await idp.sign(hsKid, { aud: 'other' }))).toBe('audience_mismatch');
    expect(await verdict(await idp.sign(hsKid, { aud: ['x', 'y'] }))).toBe('audience_mismatch');
    expect(await verdict(await idp.sign(hsKid, { aud: [] }))).toBe('audience_mismatch');
  });

  it('missing_claim: exp, sub, aud, iss', async () => {
    expect(await verdict(await idp.sign(hsKid, { exp: undefined }))).toBe('missing_claim');
    expect(await verdict(await idp.sign(hsKid, { sub: undefined }))).toBe('missing_claim');
    expect(await verdict(await idp.sign(hsKid, { aud: undefined }))).toBe('missing_claim');
    expect(await verdict(await idp.sign(hsKid, { iss: undefined }))).toBe('missing_claim');
  });

  it('invalid_claim: wrong types and an empty sub', async () => {
    expect(await verdict(hsSigned(header(), { ...idp.claims(), exp: String(now() + 600) }))).toBe('invalid_claim');
    expect(await verdict(hsSigned(header(), { ...idp.claims(), nbf: 'soon' }))).toBe('invalid_claim');
    expect(await verdict(hsSigned(header(), { ...idp.claims(), sub: 42 }))).toBe('invalid_claim');
    expect(await verdict(hsSigned(header(), { ...idp.claims(), sub: '' }))).toBe('invalid_claim');
    expect(await verdict(hsSigned(header(), { ...idp.claims(), aud: 7 }))).toBe('invalid_claim');
    expect(await verdict(hsSigned(header(), { ...idp.claims(), aud: ['api', 7] }))).toBe('invalid_claim');
    expect(await verdict(hsSigned(header(), { ...idp.claims(), iss: ['x'] }))).toBe('invalid_claim');
  });

  it('invalid_claim: a NumericDate out of range (exp 1e400 never expires, nbf -1e400 is valid since forever)', async () => {
    const claims = (name: string, value: string) => `${JSON.stringify(idp.claims({ [name]: undefined })).slice(0, -1)},"${name}":${value}}`;
    for (const [name, value] of [['exp', '1e400'], ['exp', '1e131071'], ['nbf', '-1e400'], ['iat', '-1e400'], ['exp', '-1'], ['exp', '253402300800']]) {
      expect(await verdict(hsSigned(header(), claims(name!, value!))), `${name} ${value}`).toBe('invalid_claim');
    }
    expect(await verdict(hsSigned(header(), claims('nbf', '0')))).toBe('accepted');
    expect(await verdict(hsSigned(header(), claims('exp', `${now() + 600}.5`)))).toBe('accepted');
  });

  it('invalid_claim: aud of a wrong JSON type, also when the provider checks no audience', async () => {
    const open = await TestIssuer.create(db.pool, 'no-audience', { audiences: [] });
    const kid = await open.addKey('HS256', 'open-hs');
    for (const aud of [7, { api: true }, [['api']], ['api', null], true]) {
      expect(await verdict(await open.sign(kid, { aud } as JWTPayload)), JSON.stringify(aud)).toBe('invalid_claim');
    }
    for (const aud of ['anything', ['a', 'b'], [], undefined]) {
      expect(await verdict(await open.sign(kid, { aud } as JWTPayload)), JSON.stringify(aud)).toBe('accepted');
    }
  });

  it('a cached token is checked for exp again on every use', async () => {
    await db.pool.query(`UPDATE auth.providers SET leeway_seconds = 0 WHERE name = 'idp'`);
    try {
      const token = await idp.sign(hsKid, { exp: now() + 2 });
      const client = await db.pool.connect();
      try {
        await client.query('SELECT auth.verify($1)', [token]);
        await new Promise((resolve) => setTimeout(resolve, 3100));
        const error = await client.query('SELECT auth.verify($1)', [token]).catch((e: Error) => e);
        expect((error as Error).message).toBe('jwt rejected: expired');
      } finally {
        client.release();
      }
    } finally {
      await db.pool.query(`UPDATE auth.providers SET leeway_seconds = 30 WHERE name = 'idp'`);
    }
  });
});
