// A JWKS-document fuzzer at sync: a hostile provider (docs/security.md §8) serves mutated key sets
// — wrong types, huge numbers, duplicate members, missing fields, bad base64, private members,
// enormous arrays, deep nesting, non-JSON, truncation — to a real sync against a real Postgres.
// Whatever it serves: no crash, no internal error escapes, a failed sync leaves the provider's
// keys byte-identical, and no key is ever lost (docs/security.md §6).
// Seeded: the seed is printed; AUTHDB_FUZZ_SEED replays a run, AUTHDB_FUZZ_ROUNDS sets its length,
// AUTHDB_FUZZ_TRACE=1 prints each round (time, size, outcome).
import { randomInt } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addProvider } from '../src/providers/add.js';
import { getProvider } from '../src/sync/state.js';
import { syncProvider } from '../src/sync.js';
import { authdb, expectOneLineError } from './support/cli.js';
import { type TestDatabase, withPoolClient } from './support/db.js';
import { closeJwksFixture, jwks, type JwksServer, openJwksFixture, servedKey } from './support/jwks-server.js';

const SEED = Number(process.env.AUTHDB_FUZZ_SEED ?? randomInt(2 ** 31));
const ROUNDS = Number(process.env.AUTHDB_FUZZ_ROUNDS ?? 300);
console.log(`fuzz.jwks: seed ${SEED}, ${ROUNDS} rounds (AUTHDB_FUZZ_SEED=${SEED} replays them)`);

/** mulberry32: a small seeded PRNG, so that a failing round can be replayed. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let db: TestDatabase;
let server: JwksServer;
const PATH = '/fuzz/jwks.json';
const ISSUER = 'https://fuzz.test';
// Fixed keys (made for this test), so that a seed replays the very same documents.
const RSA_PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQC1kWvjNkIXzMyM\nOTtS59jtsJRWQ9Lmp5dE+zGtonQfluIP44z+ov5hSeYGYPfwwcrMMPJKzwgMzP3k\no7czWBZJYiETDDSeKO1u0z5jaj59f9/r+cLgs8O7OZHZjd4XRIM3nV3UgrCFYJ7c\nfQ3x9dt3+rtTOQb4CtAwt+nO8HqC7hhyKb9gZOUBhe8QnkeRW0RznfNQ5+gHOxZy\nHPPuscpBuDADQiZS+u13aLCbYZpokFmnD6cDYqCeNyIqFvMw8/U1wESDMkWtYwoZ\ny/29aKNeMDinPeClg02Vro4y4TlUuoot3c0EqPhTC9XvJCjFJZsZjN1hKHsp+rSf\nfEnF2c47AgMBAAECggEAAjw23pmaZeSb8aLHiJVZTFCYlhjiDcjeY3do/MEIbby6\nLh8YOA8VoDXJFfPRP/uCxATBcHGGbdhQMwv46cuzaol0uS4bSVJdQ4U1bWl8OQ5/\nJgG+VNNug22Jm1E6lk3xN5jbJ0FjBVSGxojoYdde/kxUTG/7r/rVTH3XH2vcD9fA\na4scF+RZMoIw7SzRh254xENo8H/rltijH1enyt/hefQ/oSjiNr3ZwFFsgYvT4Lre\nNnPW69xjkqux7y4MxnxWDNCzTkTtq+REiSNLRnWLRMaZtHYXHw7WtLhlO72G9gjF\nPSss9BjFrSyAeLOBUlCPLChxwg7MsqRkia4VeKhcwQKBgQDdCfwWxwhYVZC6x+ST\nW+OFhosPcdqS6PEdG1upFwUyQnjbQpxFcKiC6PlxtogmLpx6aqRFlP6oZgdI/9vr\nGoI03q2TEwmKASfXBcZi6Ys2CV90b5l6oQ1ntfZeB2BzKhZfV7Ui/ovPWipgeym/\nof2opcugiMkzsof0mTa0he/WMQKBgQDSSTtau311C9m29czFxYXl6VZIzWQeTIsY\nL+yX16ak3lXNInfgv8doeN2o0bSTZiNsFIy0qN29X2JMQjlE1wMIcmB1GMNXho4S\nA3MBtklE/u5wv0JLQONAgjW6WBCbaAeF/DsHajb/O3UuP9IrYkYQLY/kWUYpsLlz\nmEmo8OUUKwKBgHjDocVYDMkmRqKl385a393t+j//9mlZd5JthhDGEQK6qokwxWxy\n9r4/RznHfm9N/BQt+35AvzmGNOi/UYoLu6PjHXZDamzJ4NhrwU39Rx/I0ywsZPBI\n2agWFHqfESUak4qXwtFRvVUWcByybcbTXGEt5CjbUwI5wmny456Rps2hAoGBAKnh\n8aqGR39UmIlfoBOyVE7+J+/exmBX9BMRPHEbDgypdeWoT/Jo3J8A7gnhiKF/5WP+\nYgHdXm4L7eyvn3aGwXOEe3p+C+nc0U+qK7IZYq3zyguZ5+PFwxGtX9xwItJ5w4Ix\n2DpQS6f8j9lSQ+c6mGGffVy75pvtopTJVdC+9EJLAoGBAIj7Glwys7KDfzg6tqpK\nLNkhL24nKW7LVeId9rsOIku5+fHQUD6XKpxtwEgZMwUhqVc2mWyeRPmawh39pq8m\ngm5nnlLT3CuY/rFTbF7WyTMH3B0ntATjTEJATK5bdzTcl3Sxmu91wwKigk8LpDqG\nKRTFtCP26uHCoznFeFQsF/d4\n-----END PRIVATE KEY-----\n";
const EC_PEM = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgA4S9I9RAQxvLj9ny\n6ukTBLKS1uwhupEyps/M21OYQwmhRANCAATZne01DPwsSEWKAb8D2oR6BxMWzBPX\nYnskRhsCbMU/hGUwPZi669Pgo9gD8Slamu0KVNpSVmUK5qDeoyCV++nl\n-----END PRIVATE KEY-----\n";
const ED_PEM = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIKAtVNcA6ABacsblvzvrF1oTHmrLdyo50KdMf+Sw17KK\n-----END PRIVATE KEY-----\n";
const base = [
  servedKey('rsa', 'RS256', { privateKeyPem: RSA_PEM }),
  servedKey('ec', 'ES256', { privateKeyPem: EC_PEM }),
  servedKey('ed', 'EdDSA', { privateKeyPem: ED_PEM }),
];
const baseDocument = jwks(...base);
let tokens: string[];

beforeAll(async () => {
  ({ db, server } = await openJwksFixture());
  server.set(PATH, { kind: 'json', body: baseDocument, maxAge: 600 });
  await withPoolClient(db.pool, (client) =>
    addProvider(client, { name: 'fuzz', issuer: ISSUER, jwksUrl: server.url(PATH), audiences: ['api'], fetch: { retries: 0 } }));
  tokens = await Promise.all(base.map((key) => key.sign({ iss: ISSUER, aud: 'api' })));
});
afterAll(async () => closeJwksFixture({ db, server }));

const withClient = <T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> => withPoolClient(db.pool, work);

/** Every stored byte of the provider's keys: key rows and their precomputed material. */
async function snapshot(): Promise<string> {
  const { rows } = await db.pool.query(
    `WITH k AS (SELECT k.* FROM auth.keys k JOIN auth.providers p ON p.id = k.provider_id WHERE p.name = 'fuzz')
     SELECT json_build_object(
       'keys', (SELECT json_agg(k ORDER BY k.id) FROM k),
       'rsa', (SELECT json_agg(r ORDER BY r.key_id) FROM auth.rsa_keys r WHERE r.key_id IN (SELECT id FROM k)),
       'ec', (SELECT json_agg(e ORDER BY e.key_id) FROM auth.ec_keys e WHERE e.key_id IN (SELECT id FROM k)),
       'okp', (SELECT json_agg(o ORDER BY o.key_id) FROM auth.okp_keys o WHERE o.key_id IN (SELECT id FROM k)))::text AS s`,
  );
  return rows[0].s;
}

/**
 * Whether every token verifies, after DISCARD ALL: the per-backend cache of verified tokens (kept
 * in settings) is not what this test is about.
 */
async function allVerify(): Promise<boolean> {
  return withClient(async (client) => {
    await client.query('DISCARD ALL');
    for (const token of tokens) {
      try {
        await client.query('SELECT auth.verify($1)', [token]);
      } catch {
        return false;
      }
    }
    return true;
  });
}

/** The active keys as (kid, alg, thumbprint): what the base document registers. */
async function activeKeys(): Promise<string> {
  const { rows } = await db.pool.query(
    `SELECT string_agg(k.kid || ' ' || k.alg || ' ' || k.thumbprint, ', ' ORDER BY k.kid, k.alg) AS keys
       FROM auth.keys k JOIN auth.providers p ON p.id = k.provider_id WHERE p.name = 'fuzz' AND k.status = 'active'`);
  return rows[0].keys;
}

const sync = () =>
  withClient(async (client) => syncProvider(client, await getProvider(client, 'fuzz'), { force: true, fetch: { retries: 0, timeoutMs: 5000 } }));

// ---- the mutations --------------------------------------------------------------------------

type Json = unknown;
const MEMBERS = ['kty', 'kid', 'alg', 'use', 'key_ops', 'n', 'e', 'x', 'y', 'crv', 'x5c'];
const B64_MEMBERS = ['n', 'e', 'x', 'y'];

function mutator(random: () => number) {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const int = (below: number) => Math.floor(random() * below);
  // Deep nesting is spliced into the text (JSON.stringify itself would overflow the stack).
  const nested = (depth: number): Json => `__DEEP_${random() < 0.5 ? 'a' : 'o'}${depth}__`;
  const deep = (kind: string, depth: number) =>
    kind === 'a' ? `${'['.repeat(depth)}"leaf"${']'.repeat(depth)}` : `${'{"k":'.repeat(depth)}"leaf"${'}'.repeat(depth)}`;
  const oddValue = (): Json => pick<() => Json>([
    () => 0, () => -1, () => 1.5, () => 1e308, () => true, () => false, () => null, () => [], () => ({}),
    () => [1, 'a', null], () => ({ a: { b: 1 } }), () => '', () => 'x', () => 'A'.repeat(20_000),
    () => '\u0000\u001b[31m\n\u2028', () => nested(1 + int(200)), () => '__NUMBER__',
  ])();
  const badBase64 = (): string => pick([
    '', '=', '====', 'A', 'AB*C', 'A=A', 'AAA==', ' ', 'Zm9v\n', '\u0000', 'A'.repeat(100_001), '%%%', 'AAAA',
    Buffer.alloc(1 + int(700), 0xff).toString('base64'), Buffer.alloc(int(600)).toString('base64url'),
  ]);
  const hugeNumber = () => pick(['1e400', '-1e400', '123456789012345678901234567890123456789', '-0', '1e-400', '0.0000000000000000000001', '9'.repeat(5000)]);

  /** One structural change to a copy of the document. */
  const structural: ((doc: { keys: Record<string, Json>[] } & Record<string, Json>) => void)[] = [
    (doc) => { doc.keys[int(doc.keys.length)]![pick(MEMBERS)] = oddValue(); }, // wrong type
    (doc) => { doc.keys[int(doc.keys.length)]![pick(MEMBERS)] = '__NUMBER__'; }, // huge number
    (doc) => { delete doc.keys[int(doc.keys.length)]![pick(MEMBERS)]; }, // missing member
    (doc) => { doc.keys[int(doc.keys.length)]![pick(B64_MEMBERS)] = badBase64(); }, // bad base64
    (doc) => { doc.keys[int(doc.keys.length)]![pick(['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'])] = 'AQAB'; }, // private member
    (doc) => { doc.keys = Array.from({ length: 500 + int(5000) }, () => doc.keys[int(doc.keys.length)]!); }, // enormous array, one key
    (doc) => { doc.keys = Array.from({ length: 50 + int(2000) }, (_, i) => ({ ...doc.keys[int(doc.keys.length)], kid: `k${i}` })); }, // many kids
    (doc) => { doc.keys.push(...Array.from({ length: int(3000) }, oddValue) as Record<string, Json>[]); }, // junk entries
    (doc) => { doc.keys[int(doc.keys.length)] = nested(1 + int(5000)) as Record<string, Json>; }, // deep nesting
    (doc) => { doc.keys = nested(1 + int(3000)) as Record<string, Json>[]; },
    (doc) => { const kid = pick(['rsa', 'ec', 'ed']); for (const key of doc.keys) key.kid = kid; }, // kid collisions
    (doc) => { doc.keys[int(doc.keys.length)]!.kid = pick(['rsa', 'ec', 'ed', '', '\u0000', '__proto__', 'x'.repeat(10_000)]); },
    (doc) => { const [a, b] = [int(doc.keys.length), int(doc.keys.length)]; doc.keys[a]!.kid = doc.keys[b]!.kid; doc.keys[a]!.alg = doc.keys[b]!.alg; },
    (doc) => { const key = doc.keys[int(doc.keys.length)]!; key.n = Buffer.alloc(2048, 0xab).toString('base64url'); key.e = 'AQAB'; key.kty = 'RSA'; }, // 16384-bit
    (doc) => { doc.keys[int(doc.keys.length)]!.e = Buffer.alloc(300, 0x01).toString('base64url'); },
    (doc) => { doc.keys[int(doc.keys.length)]!.crv = pick(['P-256', 'P-384', 'P-521', 'Ed25519', 'Ed448', 'secp256k1', 'X25519']); },
    (doc) => { doc.keys[int(doc.keys.length)]!.alg = pick(['none', 'HS256', 'RS256', 'ES512', 'EdDSA', 'PS256', 'RSA-OAEP']); },
    (doc) => { doc.keys[int(doc.keys.length)]!.x5c = pick([['bm90IGEgY2VydA'], [''], 'x', [[]]]); delete doc.keys[0]!.n; },
    (doc) => { doc.keys = []; },
    (doc) => { delete (doc as Record<string, Json>).keys; },
    (doc) => { doc.extra = nested(100); doc.keys.reverse(); },
  ];

  /** A change to the text: truncation, duplicate members, byte flips, non-JSON, oversize. */
  const textual: ((text: string) => string)[] = [
    (text) => text.slice(0, int(text.length)),
    (text) => text.replace('{"kty"', `{"kid":"dup","kid":${JSON.stringify(pick(['rsa', 'ec', 'x']))},"kty"`),
    (text) => text.replace('"keys":', '"keys":[],"keys":'),
    (text) => { const chars = [...text]; for (let i = 0; i < 1 + int(5); i += 1) chars[int(chars.length)] = String.fromCharCode(int(256)); return chars.join(''); },
    (text) => `\ufeff${text}`,
    (text) => `${text}garbage`,
    () => pick(['', 'null', '[]', '"keys"', '1', '{"keys":null}', '{"keys":{}}', '<html>nope</html>', '{"keys":[', '\u0000'.repeat(100)]),
    (text) => text + ' '.repeat(1024 * 1024),
  ];

  return (): string => {
    const doc = JSON.parse(JSON.stringify(baseDocument)) as { keys: Record<string, Json>[] } & Record<string, Json>;
    const changes = 1 + int(3);
    for (let i = 0; i < changes; i += 1) {
      try {
        pick(structural)(doc);
      } catch {
        // a change that no longer applies to an already mangled document
      }
    }
    let text = JSON.stringify(doc)
      .replace(/"__NUMBER__"/g, () => hugeNumber())
      .replace(/"__DEEP_([ao])(\d+)__"/g, (_, kind: string, depth: string) => deep(kind, Number(depth)));
    if (random() < 0.3) text = pick(textual)(text);
    return text;
  };
}

const INTERNAL = /TypeError|RangeError|ReferenceError|SyntaxError|Cannot read|is not a function|undefined|Maximum call stack|\n/;

describe('JWKS fuzzer at sync', () => {
  it(`${ROUNDS} mutated documents: no crash, a failure keeps the keys byte-identical, no key is ever lost`, async () => {
    const next = mutator(prng(SEED));
    let before = await snapshot();
    const baseKeys = await activeKeys();
    const outcomes = { failed: 0, ok: 0 };
    for (let round = 0; round < ROUNDS; round += 1) {
      const body = next();
      const where = `seed ${SEED}, round ${round}`;
      server.set(PATH, { kind: 'raw', body });
      const started = performance.now();
      const result = await sync();
      if (process.env.AUTHDB_FUZZ_TRACE) console.log(round, Math.round(performance.now() - started), body.length, JSON.stringify(result.error ?? result.skipped.length)?.slice(0, 200));
      if (!result.ok) {
        outcomes.failed += 1;
        expect(result.error, where).toBeTypeOf('string');
        expect(result.error, `${where}: ${result.error}`).not.toMatch(INTERNAL);
        expect(await snapshot(), where).toBe(before);
        continue;
      }
      outcomes.ok += 1;
      for (const skip of result.skipped) expect(skip.reason, where).not.toMatch(INTERNAL);
      if ((await snapshot()) === before) continue;
      // A key no longer listed is retired, and verifies during its grace period; only a kid
      // published with other material replaces its key.
      if (result.replaced === 0) expect(await allVerify(), where).toBe(true);
      server.set(PATH, { kind: 'json', body: baseDocument, maxAge: 600 });
      expect(await sync(), where).toMatchObject({ ok: true });
      expect(await activeKeys(), where).toBe(baseKeys);
      before = await snapshot();
    }
    expect(await allVerify()).toBe(true);
    console.log(`fuzz.jwks: ${outcomes.failed} failed syncs (keys kept), ${outcomes.ok} applied`);
    expect(outcomes.failed).toBeGreaterThan(ROUNDS / 3);
  }, 600_000);

  it('through the binary: one line, exit 1, keys kept', async () => {
    server.set(PATH, { kind: 'json', body: baseDocument, maxAge: 600 });
    expect(await sync()).toMatchObject({ ok: true });
    const before = await snapshot();
    const documents: [string, RegExp][] = [
      ['{"keys": [{"kty": "RSA", "n": "AQAB"', /not valid JSON/],
      ['<html>502 Bad Gateway</html>', /not valid JSON/],
      [`{"keys": ${'['.repeat(5000)}${']'.repeat(5000)}}`, /no usable key/],
      [JSON.stringify({ keys: base.map((key) => ({ ...key.jwk, d: 'AQAB' })) }), /no usable key .*private key material/],
      [JSON.stringify({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: 'AAAA', kid: '\u001b[2J\n' }] }), /\\u001b\[2J\\u000a/],
      [JSON.stringify({ keys: [] }), /empty/],
    ];
    for (const [body, pattern] of documents) {
      server.set(PATH, { kind: 'raw', body });
      const result = await authdb(['sync-jwks', '--provider', 'fuzz', '--database-url', db.url]);
      expectOneLineError(result, 1, pattern);
      expect(result.stderr).not.toMatch(/\u001b/);
      expect(await snapshot()).toBe(before);
    }
  });
});
