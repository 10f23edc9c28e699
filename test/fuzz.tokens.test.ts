// A mutation fuzzer: from valid tokens of every algorithm, at least 10,000 mutations per run (bit
// flips, base64url alphabet and padding changes, header and payload member edits, truncation,
// concatenation, numeric extremes, deep nesting, odd Unicode, signature transplants, algorithm
// confusion). Not one may be accepted, and every rejection must be SQLSTATE 28000 with the message
// `jwt rejected: CODE` (the contract; docs/security.md §12 for the bounds the odd inputs meet).
//
// Seeded and reproducible: the seed is printed; AUTHDB_FUZZ_SEED=N replays a run, AUTHDB_FUZZ_COUNT=N
// scales it. Tokens go to the database in batches, through one plpgsql function (in a schema this
// test creates) that verifies each inside its own exception block and returns the outcomes.
import { createHmac } from 'node:crypto';
import { base64url } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { TestIssuer, type Alg } from './support/tokens.js';

const COUNT = Number(process.env.AUTHDB_FUZZ_COUNT ?? 10_000);
const SEED = Number(process.env.AUTHDB_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const BATCH = 500;
const CODES = new Set([
  'malformed', 'too_large', 'unsupported_algorithm', 'critical_header', 'unknown_issuer', 'unknown_key', 'key_revoked',
  'bad_signature', 'expired', 'not_yet_valid', 'issued_in_future', 'issuer_mismatch', 'audience_mismatch',
  'missing_claim', 'invalid_claim', 'revoked',
]);

/** mulberry32: a small, fast, seedable PRNG (not for secrets: for reproducible test input). */
function prng(seed: number) {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  return { next, int, pick };
}
type Random = ReturnType<typeof prng>;

interface Base {
  alg: Alg;
  kid: string;
  token: string;
}

const b64 = (text: string | Buffer) => base64url.encode(typeof text === 'string' ? Buffer.from(text, 'utf8') : text);
const unb64 = (part: string) => Buffer.from(part, 'base64url');
const B64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const ALGS = ['none', 'None', 'NONE', 'HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512', 'EdDSA', 'ES256K', 'hs256', 'RSA-OAEP', ''];
const NUMBERS = ['1e400', '-1e400', '1e-400', '1e1000000', '-1e-1000000', '1e21', '1e131071', '9'.repeat(400), '0.' + '0'.repeat(300) + '1',
  '-0', '18446744073709551617', '1E+99', '0e0', '-9223372036854775809', '1.7976931348623157e308', '5e-324'];
const ODD_BYTES: number[][] = [
  [0x00], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xff], [0xfe], [0xef, 0xbb, 0xbf], [0xe2, 0x80, 0xae], [0xf4, 0x90, 0x80, 0x80],
  [0x80], [0xe0, 0x80], [0x0a], [0x7f], [0xf0, 0x9f, 0x98, 0x80],
];
const ODD_ESCAPES = ['\\u0000', '\\ud800', '\\udc00x', '\\ud83d\\ude00', '\\u202e', '\\ufeff', '\\uffff', '\\u0073', '\\u003a', '\\\\', '\\"', '\\/'];

/** One mutation of a token: its kind (for the failure report) and the mutated text. */
type Mutator = (r: Random, base: Base, all: Base[], secrets: Map<string, Buffer>) => string;

function parts(token: string): [string, string, string] {
  return token.split('.') as [string, string, string];
}

/** The JSON of a part, edited as an object, re-encoded (the signature stays as it was). */
function editJson(part: string, edit: (value: Record<string, unknown>) => void): string {
  const value = JSON.parse(unb64(part).toString('utf8')) as Record<string, unknown>;
  edit(value);
  return b64(JSON.stringify(value));
}

const MUTATORS: Record<string, Mutator> = {
  bitFlip: (r, { token }) => {
    const bytes = Buffer.from(token, 'latin1');
    const at = r.int(bytes.length);
    bytes[at]! ^= 1 << r.int(8);
    return bytes.toString('latin1');
  },
  signatureBitFlip: (r, { token }) => {
    const [h, p, s] = parts(token);
    const sig = unb64(s);
    const at = r.int(sig.length * 8);
    sig[at >> 3]! ^= 1 << (at & 7);
    return `${h}.${p}.${b64(sig)}`;
  },
  base64Char: (r, { token }) => {
    const at = r.int(token.length);
    return token.slice(0, at) + r.pick([...B64_ALPHABET]) + token.slice(at + 1);
  },
  base64Alphabet: (r, { token }) => {
    const at = r.int(token.length + 1);
    const insert = r.pick(['+', '/', '=', ' ', '\n', '%3D', '.', '\t', '\u00e9', '\u0000', '*']);
    return r.next() < 0.5 ? token.slice(0, at) + insert + token.slice(at) : token.slice(0, at) + insert + token.slice(at + 1);
  },
  padding: (r, { token }) => {
    const ps = parts(token);
    const i = r.int(3);
    ps[i] = ps[i] + r.pick(['=', '==', '===']);
    return ps.join('.');
  },
  caseFlip: (r, { token }) => {
    const at = r.int(token.length);
    const c = token[at]!;
    return token.slice(0, at) + (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()) + token.slice(at + 1);
  },
  truncate: (r, { token }) => token.slice(0, r.int(token.length)),
  truncateSignature: (r, { token }) => {
    const [h, p, s] = parts(token);
    return `${h}.${p}.${s.slice(0, r.int(s.length))}`;
  },
  concatenate: (r, { token }, all) => {
    const other = r.pick(all).token;
    return r.pick([`${token}.${other}`, `${token}${other}`, `${token}.${parts(other)[2]}`, `${token}.`, `.${token}`, `${token}..`,
      parts(token).join('..'), `${parts(token)[0]}.${parts(token)[1]}`, `${token} ${other}`]);
  },
  swapParts: (r, { token }) => {
    const [h, p, s] = parts(token);
    return r.pick([`${p}.${h}.${s}`, `${h}.${h}.${s}`, `${p}.${p}.${s}`, `${h}.${s}.${p}`, `${s}.${p}.${h}`]);
  },
  signatureTransplant: (r, { token }, all) => {
    const [h, p] = parts(token);
    return `${h}.${p}.${parts(r.pick(all).token)[2]}`;
  },
  headerEdit: (r, { token }, all) => {
    const [h, p, s] = parts(token);
    const edited = editJson(h, (header) => {
      switch (r.int(9)) {
        case 0: header.alg = r.pick(ALGS); break;
        case 1: delete header.kid; break;
        case 2: header.kid = r.pick([...all.map((b) => b.kid), '', 'x'.repeat(300), '../../etc/passwd', "' OR 1=1 --"]); break;
        case 3: header.kid = r.pick([42, null, ['a'], { a: 1 }, true]); break;
        case 4: header.crit = r.pick([['exp'], ['b64'], [], 'exp']); break;
        case 5: header.b64 = r.pick([false, 'false', 0, null]); break;
        case 6: header[r.pick(['jku', 'x5u', 'jwk', 'x5c'])] = r.pick(['https://evil.test/jwks', { kty: 'oct', k: 'AAAA' }, ['MIIB']]); break;
        case 7: header.alg = r.pick([42, null, ['HS256'], { alg: 'HS256' }, true]); break;
        default: delete header.alg;
      }
    });
    return `${edited}.${p}.${s}`;
  },
  headerText: (r, { token }) => {
    const [h, p, s] = parts(token);
    const text = unb64(h).toString('utf8');
    const edited = r.pick([
      text.replace('{', '{"alg":"none",'),
      text.replace(/}$/, ',"alg":"none"}'),
      text.replace(/"kid":"([^"]*)"/, '"kid":"$1","kid":"other"'),
      text.replace('"alg"', '"\\u0061lg"'),
      ` ${text} `,
      `${text}x`,
      text.replace(/}$/, ''),
      `[${text}]`,
      text.replace(/"alg":"([^"]*)"/, '"alg":"$1\\u0000"'),
    ]);
    return `${b64(edited)}.${p}.${s}`;
  },
  payloadEdit: (r, { token }) => {
    const [h, p, s] = parts(token);
    const edited = editJson(p, (claims) => {
      const now = Math.floor(Date.now() / 1000);
      switch (r.int(10)) {
        case 0: claims.sub = r.pick(['admin', '', 'alice ', 42, null, ['alice']]); break;
        case 1: claims.iss = r.pick(['https://other.test', 'https://fuzz.test/', 'HTTPS://FUZZ.TEST', '', 7, null]); break;
        case 2: claims.aud = r.pick(['other', ['x'], [], 7, { api: 1 }, [['api']], 'api ']); break;
        case 3: claims.exp = r.pick([now - 3600, 0, -1, 'soon', null, 1e300]); break;
        case 4: delete claims[r.pick(['exp', 'sub', 'iss', 'aud'])]; break;
        case 5: claims.nbf = r.pick([now + 3600, 'x', null, -1]); break;
        case 6: claims.iat = r.pick([now + 3600, true, -5]); break;
        case 7: claims.role = 'admin'; break;
        case 8: claims.sub = 'alice'; claims.extra = r.int(1000); break;
        default: claims.exp = (claims.exp as number) + 1;
      }
    });
    return `${h}.${edited}.${s}`;
  },
  payloadText: (r, { token }) => {
    const [h, p, s] = parts(token);
    const text = unb64(p).toString('utf8');
    const edited = r.pick([
      text.replace(/"sub":"([^"]*)"/, '"sub":"$1","sub":"admin"'),
      text.replace(/"sub"/, '"\\u0073ub"'),
      text.replace('{', '{"sub":"admin",'),
      text.replace(/}$/, ',"o":{"a":1,"a":2}}'),
      text.replace(/}$/, ',}'),
      text.replace(/"/g, "'"),
      `${text}${text}`,
      text.replace(/:/, ': '),
      '',
      'null',
      '"string"',
      text.replace(/}$/, ',"a":"\\u003a","a":1}'),
    ]);
    return `${h}.${b64(edited)}.${s}`;
  },
  numericExtreme: (r, { token }) => {
    const ps = parts(token);
    const i = r.int(2);
    const text = unb64(ps[i]!).toString('utf8');
    const numbers = [...text.matchAll(/-?\d+(\.\d+)?([eE][-+]?\d+)?/g)];
    const extreme = r.pick(NUMBERS);
    const edited = numbers.length > 0 && r.next() < 0.7
      ? (() => { const m = r.pick(numbers); return text.slice(0, m.index) + extreme + text.slice(m.index! + m[0].length); })()
      : text.replace(/}$/, `,"n":${extreme}}`);
    ps[i] = b64(edited);
    return ps.join('.');
  },
  deepNesting: (r, { token }) => {
    const ps = parts(token);
    const i = r.int(2);
    const depth = r.pick([33, 34, 64, 200, 1000, 3000]);
    const [open, close] = r.pick([['[', ']'], ['{"a":', '}'], ['[{"a":', '}]']]);
    const inner = `${open!.repeat(depth)}1${close!.repeat(depth)}`;
    ps[i] = b64(unb64(ps[i]!).toString('utf8').replace(/}$/, `,"deep":${inner}}`));
    const joined = ps.join('.');
    return joined.length > 16_384 ? joined.slice(0, 16_384) : joined;
  },
  wideJson: (r, { token }) => {
    const ps = parts(token);
    const count = r.pick([300, 1000, 3000]);
    const item = r.pick(['{}', '[]', '"a"', '1e20', 'null', '{"a":1}']);
    ps[1] = b64(unb64(ps[1]!).toString('utf8').replace(/}$/, `,"wide":[${Array(count).fill(item).join(',')}]}`));
    return ps.join('.');
  },
  oddUnicodeBytes: (r, { token }) => {
    const ps = parts(token);
    const i = r.int(2);
    const bytes = unb64(ps[i]!);
    const at = r.int(bytes.length + 1);
    ps[i] = b64(Buffer.concat([bytes.subarray(0, at), Buffer.from(r.pick(ODD_BYTES)), bytes.subarray(at)]));
    return ps.join('.');
  },
  oddUnicodeEscape: (r, { token }) => {
    const ps = parts(token);
    const i = r.int(2);
    const text = unb64(ps[i]!).toString('utf8');
    const strings = [...text.matchAll(/"(?:[^"\\]|\\.)*"/g)];
    const m = r.pick(strings);
    const at = m.index! + 1 + r.int(m[0].length - 1);
    ps[i] = b64(text.slice(0, at) + r.pick(ODD_ESCAPES) + text.slice(at));
    return ps.join('.');
  },
  oversize: (r, { token }) => {
    const [h, p, s] = parts(token);
    const pad = 'A'.repeat(r.pick([16_385 - token.length, 20_000, 100_000]));
    return r.pick([`${h}.${p}${pad}.${s}`, `${token}${pad}`, `${h}.${p}.${s}${pad}`]);
  },
  algorithmConfusion: (r, { token, kid }, all, secrets) => {
    // an HMAC over the token with public key material as the secret, under an HS* alg
    const [, p] = parts(token);
    const asymmetric = all.filter((b) => !b.alg.startsWith('HS'));
    const target = r.pick(asymmetric);
    const alg = r.pick(['HS256', 'HS384', 'HS512']);
    const header = b64(JSON.stringify({ alg, kid: r.next() < 0.8 ? target.kid : kid, typ: 'JWT' }));
    const input = `${header}.${p}`;
    const key = secrets.get(target.kid)!;
    return `${input}.${b64(createHmac(`sha${alg.slice(2)}`, key).update(input).digest())}`;
  },
};

const KINDS = Object.keys(MUTATORS);

let db: TestDatabase;
let issuer: TestIssuer;
const bases: Base[] = [];
const publicMaterial = new Map<string, Buffer>();

beforeAll(async () => {
  db = await createTestDatabase();
  issuer = await TestIssuer.create(db.pool, 'fuzz');
  const algs: Alg[] = ['HS256', 'HS384', 'HS512', 'RS256', 'PS256', 'ES256', 'ES384', 'ES512', 'EdDSA'];
  for (const alg of algs) {
    const kid = await issuer.addKey(alg, `fuzz-${alg.toLowerCase()}`);
    const jwk = issuer.key(kid).jwk;
    publicMaterial.set(kid, Buffer.from(String(jwk.n ?? jwk.x ?? ''), 'utf8'));
    for (let i = 0; i < 3; i++) {
      bases.push({ alg, kid, token: await issuer.sign(kid, { sub: `user-${i}`, n: i, tags: ['a', 'b'], org: { id: i } }) });
    }
    bases.push({ alg, kid, token: await issuer.sign(kid, { sub: 'kidless' }, { kid: undefined }) });
  }
  await db.pool.query(`
    CREATE SCHEMA fuzz;
    CREATE FUNCTION fuzz.verdicts(p_tokens text[], OUT state text, OUT message text)
    RETURNS SETOF record LANGUAGE plpgsql AS $$
    DECLARE
      v_token text;
    BEGIN
      FOREACH v_token IN ARRAY p_tokens LOOP
        BEGIN
          PERFORM auth.verify(v_token);
          state := 'accepted';
          message := NULL;
        EXCEPTION WHEN OTHERS THEN
          state := SQLSTATE;
          message := SQLERRM;
        END;
        RETURN NEXT;
      END LOOP;
    END $$`);
}, 120_000);
afterAll(async () => db?.drop());

/** The outcomes of these tokens, in order. */
async function verdicts(tokens: string[]): Promise<{ state: string; message: string | null }[]> {
  // NUL cannot travel in a text parameter: such a token is one the client could never send either
  const { rows } = await db.pool.query('SELECT state, message FROM fuzz.verdicts($1::text[])', [tokens.map((t) => t.replaceAll('\u0000', ''))]);
  return rows;
}

describe(`mutation fuzzer (seed ${SEED}, ${COUNT} mutations; replay with AUTHDB_FUZZ_SEED=${SEED})`, () => {
  it('the unmutated tokens of every algorithm verify', async () => {
    const outcomes = await verdicts(bases.map((b) => b.token));
    outcomes.forEach((outcome, i) => expect(outcome, `${bases[i]!.alg} ${bases[i]!.kid}`).toEqual({ state: 'accepted', message: null }));
  });

  it('accepts none of the mutations and rejects every one with SQLSTATE 28000 `jwt rejected: CODE`', async () => {
    console.log(`fuzz.tokens: seed ${SEED} (AUTHDB_FUZZ_SEED=${SEED} replays), ${COUNT} mutations`);
    const r = prng(SEED);
    // Most mutations on the cheap algorithms: the signature check of a mutation that reaches it
    // costs ~0.1 ms for HS*, 1-10 ms for the others on the embedded (unoptimized) Postgres.
    const cheap = bases.filter((b) => b.alg.startsWith('HS'));
    const pickBase = (): Base => (r.next() < 0.75 ? r.pick(cheap) : r.pick(bases));
    const cases: { kind: string; base: Base; token: string }[] = [];
    const byKind = new Map<string, number>();
    while (cases.length < COUNT) {
      const base = pickBase();
      const kind = r.pick(KINDS);
      const token = MUTATORS[kind]!(r, base, bases, publicMaterial);
      if (token === base.token || token.replaceAll('\u0000', '') === base.token) continue; // the same token is no mutation
      cases.push({ kind, base, token });
      byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
    }
    const failures: string[] = [];
    const codes = new Map<string, number>();
    for (let start = 0; start < cases.length; start += BATCH) {
      const batch = cases.slice(start, start + BATCH);
      const outcomes = await verdicts(batch.map((c) => c.token));
      outcomes.forEach((outcome, i) => {
        const { kind, base, token } = batch[i]!;
        const code = /^jwt rejected: ([a-z_]+)$/.exec(outcome.message ?? '')?.[1];
        if (outcome.state === '28000' && code && CODES.has(code)) {
          codes.set(code, (codes.get(code) ?? 0) + 1);
          return;
        }
        failures.push(`seed ${SEED}, mutation #${start + i} (${kind} of a ${base.alg} token): ${outcome.state} ${outcome.message ?? ''}\n  token: ${JSON.stringify(token.length > 400 ? `${token.slice(0, 400)}… (${token.length} chars)` : token)}`);
      });
    }
    console.log(`fuzz.tokens: by kind ${JSON.stringify(Object.fromEntries(byKind))}`);
    console.log(`fuzz.tokens: rejections ${JSON.stringify(Object.fromEntries(codes))}`);
    expect(failures.slice(0, 20).join('\n'), `${failures.length} of ${COUNT} mutations were accepted or rejected otherwise than 28000`).toBe('');
    expect([...codes.values()].reduce((a, b) => a + b, 0)).toBe(COUNT);
    if (COUNT >= 1000) expect(byKind.size).toBe(KINDS.length);
  }, 600_000);
});
