// The "worst-case forged token" section of `npm run bench` (docs/security.md §12): what a token
// that does not verify costs the database at the default limits, per algorithm, beside the 10 ms
// budget. The keys are the costliest a provider may register without opting in (RSA: 4096 bits,
// e = 2^32 - 1, the largest exponent accepted), three per algorithm (a kid-less token is tried
// against the two newest, ES512 the newest only), and the tokens are the costliest we know of:
// - with kid: a well-formed token whose signature is in range but wrong (a full check, then no);
// - kid-less, 16 KiB: the same without kid (two full checks, ES512 one), its payload padded to the 16 KiB
//   limit with the JSON that costs the parser most within its bounds (see paddedClaims).
// Time is the backend's own CPU time (/proc/self/schedstat), so other load on the machine does
// not count; without it (not Linux, not superuser) the wall clock.
import { createHmac, randomBytes, sign as nodeSign, type KeyObject } from 'node:crypto';
import { base64url } from 'jose';
import pg from 'pg';
import { newKeyPairSync } from '../src/key-pair.js';

export const BUDGET_MS = 10;
const ISSUER = 'https://forge.test';
const PROVIDER = 'forge';
const MAX_OCTETS = 16384;
const KEYS_PER_ALG = 3;

interface ForgeKey {
  jwk: Record<string, unknown>;
  /** A signature of the right shape and range that does not verify `input`. */
  forge(input: Buffer): Buffer;
}

type Maker = () => ForgeKey;

/** An RSA key of 4096 bits whose registered exponent is 2^32 - 1: verification cost depends on n
 * and e only, so the key need not be one anybody can sign with. */
const rsaKey: Maker = () => {
  const { publicKey } = newKeyPairSync('rsa', { modulusLength: 4096 });
  const jwk = publicKey.export({ format: 'jwk' }) as Record<string, string>;
  const n = Buffer.from(jwk.n!, 'base64url');
  if (n.length !== 512) throw new Error('bench: expected a 4096-bit modulus');
  return {
    jwk: { kty: 'RSA', n: jwk.n, e: base64url.encode(Buffer.from([0xff, 0xff, 0xff, 0xff])) },
    forge: () => {
      const s = randomBytes(n.length);
      s[0] = 0; // below every 4096-bit modulus, so each key tried runs the whole check
      return s;
    },
  };
};

/** A real key pair: the forged signature is a valid signature of other data (in range, on the
 * curve, so the check runs to its end). */
function asymmetric(type: 'ec' | 'ed25519', options: object, hash: string | null): Maker {
  return () => {
    const { publicKey, privateKey } = newKeyPairSync(type as 'ec', options as never) as unknown as { publicKey: KeyObject; privateKey: KeyObject };
    return {
      jwk: publicKey.export({ format: 'jwk' }) as Record<string, unknown>,
      forge: (input) => nodeSign(hash, Buffer.concat([input, Buffer.from('!')]), { key: privateKey, dsaEncoding: 'ieee-p1363' }),
    };
  };
}

function hmacKey(bytes: number, hash: string): Maker {
  return () => {
    const secret = randomBytes(bytes);
    return {
      jwk: { kty: 'oct', k: base64url.encode(secret) },
      forge: (input) => createHmac(hash, randomBytes(bytes)).update(input).digest(),
    };
  };
}

const ALGORITHMS: { alg: string; label: string; make: Maker }[] = [
  { alg: 'HS512', label: 'HS512', make: hmacKey(64, 'sha512') },
  { alg: 'RS256', label: 'RS256 4096-bit, e = 2^32-1', make: rsaKey },
  { alg: 'PS512', label: 'PS512 4096-bit, e = 2^32-1', make: rsaKey },
  { alg: 'ES256', label: 'ES256', make: asymmetric('ec', { namedCurve: 'P-256' }, 'sha256') },
  { alg: 'ES384', label: 'ES384', make: asymmetric('ec', { namedCurve: 'P-384' }, 'sha384') },
  { alg: 'ES512', label: 'ES512', make: asymmetric('ec', { namedCurve: 'P-521' }, 'sha512') },
  { alg: 'EdDSA', label: 'EdDSA', make: asymmetric('ed25519', {}, null) },
];

/** A compact JWS from a header, claims (an object, or JSON text as is) and a signer. */
function token(header: object, claims: object | string, signer: (input: Buffer) => Buffer): string {
  const payload = typeof claims === 'string' ? claims : JSON.stringify(claims);
  const input = `${base64url.encode(JSON.stringify(header))}.${base64url.encode(payload)}`;
  return `${input}.${base64url.encode(signer(Buffer.from(input)))}`;
}

/** Claims padded to the 16 KiB limit with what costs the parser most within the JSON bounds
 * (at most 256 "{" and "[", 1024 ","): empty arrays, numbers with an exponent (each checked for
 * its magnitude), then one string of escaped colons (the duplicate-member check counts them). */
function paddedClaims(claims: Record<string, unknown>, header: object, signatureOctets: number): string {
  const room = MAX_OCTETS - base64url.encode(JSON.stringify(header)).length - Math.ceil((signatureOctets * 4) / 3) - 2;
  const base = JSON.stringify(claims).slice(0, -1);
  const shape = (escapes: number) =>
    `${base},"arrays":[${Array(250).fill('[]').join(',')}],"numbers":[${Array(700).fill('1e20').join(',')}],"s":"${'\\u003a'.repeat(escapes)}"}`;
  let escapes = 0;
  while (Math.ceil((shape(escapes + 1).length * 4) / 3) <= room) escapes += 1;
  return shape(escapes);
}

// A server-side loop that times each token's rejection; fails when a token is accepted or
// rejected otherwise than with SQLSTATE 28000.
const LOOP_FUNCTION = `
CREATE FUNCTION pg_temp.forged_cost(p_token text, p_seconds numeric, OUT ms numeric, OUT clock text, OUT outcome text)
LANGUAGE plpgsql AS $$
DECLARE
  v_cpu   boolean := true;
  v_start numeric;
  v_wall  timestamptz;
  v_count int := 0;
BEGIN
  BEGIN
    v_start := split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::numeric;
  EXCEPTION WHEN OTHERS THEN
    v_cpu := false;
  END;
  v_wall := clock_timestamp();
  -- long enough for the scheduler's accounting (it advances in ticks) to be exact to a few %
  WHILE v_count < 3 OR clock_timestamp() < v_wall + make_interval(secs => p_seconds) LOOP
    v_count := v_count + 1;
    BEGIN
      PERFORM auth.verify(p_token);
      outcome := 'accepted';
    EXCEPTION WHEN OTHERS THEN
      outcome := CASE WHEN SQLSTATE = '28000' THEN SQLERRM ELSE SQLSTATE || ' ' || SQLERRM END;
    END;
  END LOOP;
  IF v_cpu THEN
    ms := (split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::numeric - v_start) / 1e6 / v_count;
    clock := 'CPU';
  ELSE
    ms := extract(epoch FROM clock_timestamp() - v_wall) * 1e3 / v_count;
    clock := 'wall';
  END IF;
END $$`;

/** Registers the keys, forges the tokens, prints the table; returns the worst figure in ms. */
export async function worstCaseSection(url: string, options: { seconds?: number } = {}): Promise<number> {
  const seconds = options.seconds ?? 0.5;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  const rows: string[][] = [];
  let worst = 0;
  let clock = 'CPU';
  try {
    await admin.query('SELECT auth.add_provider($1, $2)', [PROVIDER, ISSUER]);
    const { rows: limits } = await admin.query('SELECT max_rsa_bits, max_keys FROM auth.providers WHERE name = $1', [PROVIDER]);
    console.log(`\nworst-case forged token (docs/security.md §12), default limits: RSA ≤ ${limits[0].max_rsa_bits} bits, e < 2^32, ` +
      `≤ ${limits[0].max_keys} keys per provider, kid-less tokens tried against 2 keys (ES512: 1), JSON ≤ 32 levels, tokens ≤ 16 KiB`);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(LOOP_FUNCTION);
      for (const { alg, label, make } of ALGORITHMS) {
        const keys = Array.from({ length: KEYS_PER_ALG }, make);
        for (const [i, key] of keys.entries()) {
          await admin.query('SELECT auth.add_key($1, $2::jsonb)', [PROVIDER, JSON.stringify({ ...key.jwk, alg, kid: `${alg}-${i}` })]);
        }
        const newest = keys[keys.length - 1]!;
        const now = Math.floor(Date.now() / 1000);
        const claims = { iss: ISSUER, sub: 'mallory', iat: now, exp: now + 3600 };
        const signatureOctets = newest.forge(Buffer.from('x')).length;
        const withKid = token({ alg, kid: `${alg}-${KEYS_PER_ALG - 1}` }, claims, newest.forge);
        const kidless = token({ alg }, paddedClaims(claims, { alg }, signatureOctets), newest.forge);
        const cells = [label];
        for (const forged of [withKid, kidless]) {
          if (forged.length > MAX_OCTETS) throw new Error(`bench: a ${alg} token has ${forged.length} octets`);
          await client.query('SELECT pg_temp.forged_cost($1, 0)', [forged]); // plans, caches
          const { rows: [result] } = await client.query('SELECT ms::float8 AS ms, clock, outcome FROM pg_temp.forged_cost($1, $2)', [forged, seconds]);
          if (!/^jwt rejected: /.test(result.outcome)) throw new Error(`bench: a forged ${alg} token was not rejected with 28000: ${result.outcome}`);
          clock = result.clock;
          worst = Math.max(worst, result.ms);
          cells.push(`${result.ms.toFixed(2)}`, result.outcome.replace('jwt rejected: ', ''));
        }
        cells.push(Math.max(Number(cells[1]), Number(cells[3])) <= BUDGET_MS ? `≤ ${BUDGET_MS} ✓` : `> ${BUDGET_MS} ✗`);
        rows.push(cells);
      }
    } finally {
      await client.end();
    }
  } finally {
    await admin.end();
  }
  const header = ['algorithm', `with kid ms`, 'rejected', 'kid-less 16 KiB ms', 'rejected', 'budget'];
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i === 0 || i === 2 || i === 4 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  console.log(line(header));
  for (const row of rows) console.log(line(row));
  console.log(`worst: ${worst.toFixed(2)} ms of ${clock === 'CPU' ? 'backend CPU' : 'wall-clock'} time per forged token (budget ${BUDGET_MS} ms)`);
  return worst;
}
