// Facts of the SQL contract that TypeScript, the migrations and the docs repeat: each has one
// source (the database, or one exported constant), and this file fails when a copy drifts from it.
// - the algorithm table: auth.algorithms ↔ src/algorithms.ts ↔ the key tables' CHECKs ↔ the hint
//   of auth.add_provider ↔ the provider settings' LIMITS
// - the private JWK members: auth._jwk_private_members() ↔ PRIVATE_MEMBERS
// - the size limits: the CHECK constraints ↔ LIMITS ↔ the JWKS parser ↔ the docs
// - the rejection codes: `_reject('…')` in sql/functions ↔ REJECTION_CODES ↔ the docs' tables
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALGORITHMS, PRIVATE_MEMBERS, SUPPORTED_ALGORITHMS } from '../src/algorithms.js';
import { REJECTION_CODES } from '../src/errors.js';
import { MAX_ENTRIES, MIN_RSA_BITS } from '../src/jwks/parse.js';
import { HMAC_SECRET_BYTES } from '../src/keys.js';
import { LIMITS } from '../src/providers/registry.js';
import { REPO_ROOT } from './support/cli.js';
import { createTestDatabase, pgError, type TestDatabase } from './support/db.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => db?.drop());

const read = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8');

/** The CHECK constraints of an auth table, as `pg_get_constraintdef` prints them. */
async function checks(table: string): Promise<string[]> {
  const { rows } = await db.pool.query<{ def: string }>(
    `SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'c' ORDER BY 1`,
    [`auth.${table}`],
  );
  return rows.map((row) => row.def);
}

/** The quoted values of the CHECK on `column` that lists them (`column = ANY (ARRAY[...])` or `column = '…'`). */
async function listedValues(table: string, column: string): Promise<string[]> {
  const def = (await checks(table)).find((d) => new RegExp(`^CHECK \\(\\(?${column} = `).test(d));
  if (!def) throw new Error(`no CHECK listing ${column} on auth.${table}`);
  return [...def.matchAll(/'([^']*)'::text/g)].map((m) => m[1]!).sort();
}

/** The bounds of `column >= MIN AND column <= MAX` (a BETWEEN) among the table's CHECKs. */
async function bounds(table: string, column: string): Promise<{ min: number; max: number }> {
  for (const def of await checks(table)) {
    const min = new RegExp(`\\(${column} >= (\\d+)\\)`).exec(def);
    const max = new RegExp(`\\(${column} <= (\\d+)\\)`).exec(def);
    if (min && max) return { min: Number(min[1]), max: Number(max[1]) };
  }
  throw new Error(`no BETWEEN check on auth.${table}.${column}`);
}

const snake = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

describe('the algorithm table', () => {
  it('src/algorithms.ts holds exactly the rows of auth.algorithms', async () => {
    const { rows } = await db.pool.query<{ alg: string; family: string; kty: string; crv: string | null; hash: string; hash_bytes: number }>(
      'SELECT alg, family, kty, crv, hash, hash_bytes FROM auth.algorithms ORDER BY alg');
    const fromDatabase = Object.fromEntries(rows.map((r) => [r.alg, {
      family: r.family, kty: r.kty, ...(r.crv === null ? {} : { crv: r.crv }), hashBytes: r.hash_bytes,
    }]));
    expect(ALGORITHMS).toEqual(fromDatabase);
    for (const row of rows) expect(row.hash, row.alg).toBe(`sha${row.hash_bytes * 8}`);
  });

  it('auth.add_provider names the supported algorithms from the table, in the CLI order', async () => {
    const error = await pgError(db.pool.query(`SELECT auth.add_provider('drift', 'https://drift.test', p_algorithms => '{XS256}')`));
    expect(error.code).toBe('22023');
    expect(error.hint).toBe(`supported: ${SUPPORTED_ALGORITHMS.join(' ')}`);
  });

  it('the key tables accept the algorithms and curves of their key type, no more, no fewer', async () => {
    const ofType = (kty: string) => Object.entries(ALGORITHMS).filter(([, row]) => row.kty === kty);
    expect(await listedValues('rsa_keys', 'alg')).toEqual(ofType('RSA').map(([alg]) => alg).sort());
    expect(await listedValues('ec_keys', 'crv')).toEqual(ofType('EC').map(([, row]) => (row as { crv: string }).crv).sort());
    expect(await listedValues('okp_keys', 'crv')).toEqual(ofType('OKP').map(([, row]) => (row as { crv: string }).crv).sort());
  });

  it('README’s algorithm table lists every algorithm, in the CLI order', () => {
    const table = read('README.md').split('## Algorithms')[1]!.split('\n\n')[1]!;
    const listed = [...table.matchAll(/^\| ([A-Za-z0-9, ]+) \|/gm)].flatMap((m) => m[1]!.split(', '));
    expect(listed).toEqual(SUPPORTED_ALGORITHMS);
  });

  it('an HMAC secret must be as long as the hash output (RFC 7518 §3.2)', () => {
    expect(HMAC_SECRET_BYTES).toEqual({ HS256: 32, HS384: 48, HS512: 64 });
  });
});

describe('the private JWK members', () => {
  it('auth.add_key refuses the members the JWKS parser skips (k aside: an oct key’s secret)', async () => {
    const { rows } = await db.pool.query<{ members: string[] }>('SELECT auth._jwk_private_members() AS members');
    expect([...rows[0]!.members, 'k'].sort()).toEqual([...PRIVATE_MEMBERS].sort());
  });
});

describe('the size limits', () => {
  it('the provider settings’ LIMITS are the CHECK constraints of auth.providers', async () => {
    for (const [setting, limit] of Object.entries(LIMITS)) {
      const column = setting === 'leewaySeconds' ? 'leeway_seconds' : snake(setting);
      expect(await bounds('providers', column), setting).toEqual({ min: limit.min, max: limit.max });
    }
  });

  it('an RSA modulus is 2048 to 8192 bits everywhere', async () => {
    expect(await bounds('rsa_keys', 'mod_bits')).toEqual({ min: LIMITS.maxRsaBits.min, max: LIMITS.maxRsaBits.max });
    expect(MIN_RSA_BITS).toBe(LIMITS.maxRsaBits.min);
  });

  it('the JWKS parser reads at least as many entries as a provider may hold keys', () => {
    expect(MAX_ENTRIES).toBeGreaterThanOrEqual(LIMITS.maxKeys.max);
  });

  it('a token of 16 KiB is read, one octet more is too_large, as the docs say', async () => {
    const sized = (octets: number) => `${'a'.repeat(octets - 4)}.b.c`;
    expect((await pgError(db.pool.query('SELECT auth.verify($1)', [sized(16384)]))).message).not.toBe('jwt rejected: too_large');
    expect((await pgError(db.pool.query('SELECT auth.verify($1)', [sized(16385)]))).message).toBe('jwt rejected: too_large');
    expect(read('README.md')).toMatch(/\| `too_large` \| over 16 KiB/);
    expect(read('docs/troubleshooting.md')).toMatch(/\| `too_large` \| the token is over 16 KiB/);
  });
});

describe('the rejection codes', () => {
  const sqlCodes = () => {
    const dir = join(REPO_ROOT, 'sql', 'functions');
    const codes = new Set<string>();
    for (const file of readdirSync(dir)) {
      for (const match of readFileSync(join(dir, file), 'utf8').matchAll(/_reject\('([a-z_]+)'/g)) codes.add(match[1]!);
    }
    return [...codes].sort();
  };
  /** The codes in the first column of the Markdown table headed `| code |`. */
  const tableCodes = (text: string) => {
    const table = text.slice(text.indexOf('\n| code |')).split('\n\n')[0]!;
    return [...new Set([...table.matchAll(/^\| `([a-z_]+)`(?: \([^)]*\))? \|/gm)].map((m) => m[1]!))].sort();
  };

  it('the SQL raises exactly the codes of REJECTION_CODES', () => {
    expect(sqlCodes()).toEqual([...REJECTION_CODES].sort());
  });

  it('README and docs/troubleshooting.md explain every code, and no other', () => {
    expect(tableCodes(read('README.md'))).toEqual([...REJECTION_CODES].sort());
    expect(tableCodes(read('docs/troubleshooting.md'))).toEqual([...REJECTION_CODES].sort());
  });
});
