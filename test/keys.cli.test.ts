// `authdb keys add / list / revoke` through the built binary against a real Postgres: issue 10.1
// (keys add never registered a key), raw HMAC secrets (Supabase's legacy JWT secret), revocation by
// thumbprint (issue 9.9), and JWKS-supplied strings printed with their control characters escaped.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { authdb, expectOneLineError, jsonOutput, type CliResult } from './support/cli.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { newKeyPairSync } from '../src/key-pair.js';

const dir = mkdtempSync(join(tmpdir(), 'authdb-keys-'));
// Each test runs the binary many times (about 1 s of CPU each); on a loaded machine that adds up.
const BINARY_TESTS_MS = 600_000;
const databases: TestDatabase[] = [];

/** A database of its own: "fresh" matters here (issue 10.1 depended on how many keys existed anywhere). */
async function fresh(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  databases.push(db);
  return db;
}
afterAll(async () => {
  await Promise.all(databases.map((db) => db.drop()));
});

let fileCount = 0;
function file(content: string | Buffer | object, name = `f${(fileCount += 1)}.json`): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' || Buffer.isBuffer(content) ? content : JSON.stringify(content));
  return path;
}

const run = (db: TestDatabase, args: string[], env?: Record<string, string>): Promise<CliResult> =>
  authdb([...args, '--database-url', db.url], { env });

async function count(db: TestDatabase, sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await db.pool.query(`SELECT (${sql})::int AS n`, params);
  return rows[0].n;
}
const providerRows = (db: TestDatabase, name: string) => count(db, 'SELECT count(*) FROM auth.providers WHERE name = $1', [name]);
const keyRows = (db: TestDatabase) => count(db, 'SELECT count(*) FROM auth.keys');

/** `--json` failure: the contract's {"error": {code, message, hint}} on stdout, exit non-zero. */
function expectJsonError(result: CliResult, exitCode: number, pattern: RegExp): void {
  expectOneLineError(result, exitCode, pattern);
  const { error } = jsonOutput<{ error: { code: string; message: string } }>(result);
  expect(error.code).toMatch(/^[a-z_]+$/);
  expect(`authdb: ${error.message}`).toMatch(pattern);
}

const now = () => Math.floor(Date.now() / 1000);
function hsToken(secret: Uint8Array, claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ sub: 'alice', iat: now(), exp: now() + 600, ...claims })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT', ...header })
    .sign(secret);
}

async function verify(db: TestDatabase, token: string): Promise<CliResult> {
  return run(db, ['verify', token, '--json']);
}

// A 32-byte HS256 secret as a JWK (the README's secret.jwk.json).
const SECRET = randomBytes(32);
const SECRET_JWK = { kty: 'oct', k: SECRET.toString('base64url'), kid: 'local-1' };
const README_EXAMPLE = (path: string) => ['keys', 'add', '--provider', 'local', '--issuer', 'https://local.test', '--file', path, '--alg', 'HS256'];

function publicJwk(type: 'ec' | 'ed25519' | 'rsa', kid?: string): { jwk: Record<string, unknown>; privateKey: ReturnType<typeof newKeyPairSync>['privateKey'] } {
  const pair = type === 'ec' ? newKeyPairSync('ec', { namedCurve: 'P-256' })
    : type === 'rsa' ? newKeyPairSync('rsa', { modulusLength: 2048 }) : newKeyPairSync('ed25519');
  const jwk = pair.publicKey.export({ format: 'jwk' }) as Record<string, unknown>;
  return { jwk: kid === undefined ? jwk : { ...jwk, kid }, privateKey: pair.privateKey };
}

describe('keys add (issue 10.1)', { timeout: BINARY_TESTS_MS }, () => {
  it('the README example registers the key on a fresh database, and a token it signed verifies', async () => {
    const db = await fresh();
    const result = await run(db, README_EXAMPLE(file(SECRET_JWK)));
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^created provider local \(issuer https:\/\/local\.test; tokens' sub used bare\)$/m);
    expect(result.stdout).toMatch(/^added oct key local-1 \(HS256\) to local; thumbprint oct:/m);
    expect(await keyRows(db)).toBe(1);
    const verified = await verify(db, await hsToken(SECRET, { iss: 'https://local.test' }, { kid: 'local-1' }));
    expect(verified.code).toBe(0);
    expect(jsonOutput(verified)).toMatchObject({ valid: true, claims: { sub: 'alice' } });
  });

  it('--json reports the key (not [null]); a second run of the same file changes nothing and says so', async () => {
    const db = await fresh();
    const path = file(SECRET_JWK);
    const first = await run(db, [...README_EXAMPLE(path), '--json']);
    expect(first.code).toBe(0);
    const added = jsonOutput<{ providerCreated: boolean; added: unknown[]; unchanged: unknown[] }>(first);
    expect(added).toMatchObject({ provider: 'local', providerCreated: true, issuer: 'https://local.test', subjectPrefix: null, unchanged: [] });
    expect(added.added).toEqual([{ kid: 'local-1', alg: 'HS256', kty: 'oct', thumbprint: expect.stringMatching(/^oct:[\w-]{43}$/), status: 'active' }]);

    const again = await run(db, [...README_EXAMPLE(path), '--json']);
    expect(again.code).toBe(0);
    expect(jsonOutput(again)).toMatchObject({ providerCreated: false, added: [], unchanged: [{ kid: 'local-1', alg: 'HS256' }] });
    const human = await run(db, README_EXAMPLE(path));
    expect(human.code).toBe(0);
    expect(human.stdout).toBe('oct key local-1 (HS256) is already registered for local\n');
    expect(await keyRows(db)).toBe(1);
    expect(await providerRows(db, 'local')).toBe(1);
  });

  it('works whatever the number of keys already stored anywhere (0, 1, 2+): the old bug ran add_key once per row', async () => {
    const db = await fresh();
    for (const [index, provider] of ['p0', 'p1', 'p2', 'p3'].entries()) {
      const before = await keyRows(db);
      expect(before).toBe(index);
      const result = await run(db, ['keys', 'add', '--provider', provider, '--issuer', `https://${provider}.test`, '--file', file(publicJwk('ec', `${provider}-k`).jwk), '--json']);
      expect(result.code, result.stderr).toBe(0);
      expect(jsonOutput<{ added: unknown[] }>(result).added).toHaveLength(1);
      expect(await keyRows(db)).toBe(before + 1);
    }
  });

  it('registers every key of a JWK Set (EC, Ed25519, RSA, kid-less), and each verifies its tokens', async () => {
    const db = await fresh();
    const ec = publicJwk('ec', 'ec-1');
    const ed = publicJwk('ed25519', 'ed-1');
    const rsa = publicJwk('rsa');
    const result = await run(db, ['keys', 'add', '--provider', 'acme', '--issuer', 'https://acme.test',
      '--file', file({ keys: [ec.jwk, ed.jwk, { ...rsa.jwk, alg: 'RS256' }] }), '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(jsonOutput<{ added: { kid: string | null; alg: string }[] }>(result).added.map((key) => [key.kid, key.alg]))
      .toEqual([['ec-1', 'ES256'], ['ed-1', 'EdDSA'], [null, 'RS256']]);
    const sign = (alg: string, key: typeof ec.privateKey, kid?: string) =>
      new SignJWT({ sub: alg, iss: 'https://acme.test', exp: now() + 60 }).setProtectedHeader({ alg, ...(kid ? { kid } : {}) }).sign(key);
    for (const token of [await sign('ES256', ec.privateKey, 'ec-1'), await sign('EdDSA', ed.privateKey, 'ed-1'), await sign('RS256', rsa.privateKey)]) {
      const verified = await verify(db, token);
      expect(verified.code, verified.stdout).toBe(0);
    }
  });

  it('all or nothing: one bad key in a set leaves no key and no provider row behind', async () => {
    const db = await fresh();
    const good = publicJwk('ec', 'good').jwk;
    const privatePair = newKeyPairSync('ec', { namedCurve: 'P-256' });
    const privateJwk = { ...(privatePair.privateKey.export({ format: 'jwk' }) as object), kid: 'oops' };
    const result = await run(db, ['keys', 'add', '--provider', 'acme', '--issuer', 'https://acme.test', '--file', file({ keys: [good, privateJwk] })]);
    expectOneLineError(result, 1, /^authdb: key oops: this JWK holds a private key: register the public key only$/m);
    expect(await providerRows(db, 'acme')).toBe(0);
    expect(await keyRows(db)).toBe(0);

    // the same for a provider that exists: its keys stay exactly as they were
    expect((await run(db, ['keys', 'add', '--provider', 'acme', '--issuer', 'https://acme.test', '--file', file(good)])).code).toBe(0);
    const json = await run(db, ['keys', 'add', '--provider', 'acme', '--file', file([publicJwk('ed25519', 'new').jwk, privateJwk]), '--json']);
    expectJsonError(json, 1, /key oops: this JWK holds a private key/);
    expect(await keyRows(db)).toBe(1);
  });

  it('refuses a kid already taken by other material, and leaves the key as it was', async () => {
    const db = await fresh();
    expect((await run(db, README_EXAMPLE(file(SECRET_JWK)))).code).toBe(0);
    const otherSecret = { kty: 'oct', kid: 'local-1', k: randomBytes(32).toString('base64url') };
    expectOneLineError(await run(db, README_EXAMPLE(file(otherSecret))), 1,
      /^authdb: key local-1: the provider already has a different HS256 key with kid local-1$/m);
    expect(await keyRows(db)).toBe(1);
  });

  it('fails with one clear line (and a JSON error with --json) on bad input, writing nothing', async () => {
    const db = await fresh();
    const cases: [string[], number, RegExp][] = [
      [['--file', join(dir, 'missing.json')], 1, /cannot read .*missing\.json: no such file/],
      [['--file', file('{"kty": "oct",')], 1, /is not valid JSON/],
      [['--file', file({ keys: [] })], 1, /holds no keys/],
      [['--file', file([1])], 1, /key #1 is not a JSON object/],
      [['--file', file({ kty: 'oct', k: randomBytes(16).toString('base64url') }), '--alg', 'HS256'], 1, /HS256 needs a secret of at least 32 bytes, this one has 16/],
      [['--file', file(publicJwk('rsa', 'r').jwk), '--alg', 'HS256'], 1, /key r: a RSA key cannot be used with HS256/],
      [['--file', file({ ...publicJwk('ec', 'e').jwk, use: 'enc' })], 1, /key e: the key's "use" is "enc", not sig/],
      [['--file', file({ kty: 'XYZ' })], 1, /unsupported key type XYZ/],
      [['--file', file(SECRET_JWK), '--alg', 'HS999'], 2, /unsupported algorithm HS999/],
    ];
    for (const [args, code, pattern] of cases) {
      const base = ['keys', 'add', '--provider', 'acme', '--issuer', 'https://acme.test', ...args];
      expectJsonError(await run(db, [...base, '--json']), code, pattern);
    }
    expect(await count(db, 'SELECT count(*) FROM auth.providers')).toBe(0);
    expect(await keyRows(db)).toBe(0);
  });

  it('usage errors exit 2 with one line', async () => {
    const db = await fresh();
    const path = file(SECRET_JWK);
    const cases: [string[], RegExp][] = [
      [['--file', path], /--provider NAME is required/],
      [['--provider', 'a'], /give exactly one of --file JWKS, --hmac-secret-file FILE, --hmac-secret-env VAR/],
      [['--provider', 'a', '--file', path, '--hmac-secret-env', 'X', '--alg', 'HS256'], /give exactly one of/],
      [['--provider', 'a', '--hmac-secret-env', 'X'], /a shared secret needs --alg HS256, HS384 or HS512/],
      [['--provider', 'a', '--hmac-secret-env', 'X', '--alg', 'RS256'], /a shared secret needs --alg HS256, HS384 or HS512/],
      [['--provider', 'a', '--file', path, '--kid', 'k'], /--kid goes with a shared secret/],
      [['--provider', 'a', '--file', path, '--subject-prefix', 'a:', '--shared-subjects'], /either --subject-prefix or --shared-subjects, not both/],
      [['--provider', 'a', '--file', path, '--subject-prefix', 'a\u001b:'], /--subject-prefix must be 1 to 64 characters, without control characters/],
      [['--provider', 'bad name', '--file', path], /invalid provider name/],
    ];
    for (const [args, pattern] of cases) {
      expectJsonError(await run(db, ['keys', 'add', ...args, '--json']), 2, pattern);
    }
  });

  it('--issuer must match the issuer of a provider that exists; subject options apply only when creating it', async () => {
    const db = await fresh();
    expect((await run(db, README_EXAMPLE(file(SECRET_JWK)))).code).toBe(0);
    const other = file(publicJwk('ec', 'e2').jwk);
    expectOneLineError(await run(db, ['keys', 'add', '--provider', 'local', '--issuer', 'https://elsewhere.test', '--file', other]), 1,
      /^authdb: provider local has issuer https:\/\/local\.test, not https:\/\/elsewhere\.test$/m);
    expectOneLineError(await run(db, ['keys', 'add', '--provider', 'local', '--shared-subjects', '--file', other]), 2,
      /provider local exists already: change its subjects with `authdb provider update local`/);
    expect(await keyRows(db)).toBe(1);
    // without --issuer, a key is added to the existing provider
    expect((await run(db, ['keys', 'add', '--provider', 'local', '--file', other])).code).toBe(0);
    expect(await keyRows(db)).toBe(2);
  });
});

describe('keys add --hmac-secret-file / --hmac-secret-env (raw shared secrets)', { timeout: BINARY_TESTS_MS }, () => {
  // Supabase's legacy JWT secret: the string's UTF-8 bytes are the HMAC key.
  const supabaseSecret = 'super-secret-jwt-token-with-at-least-32-characters-long';
  const issuer = 'https://abcdefghijklmnop.supabase.co/auth/v1';
  const supabaseClaims = () => ({
    iss: issuer, aud: 'authenticated', role: 'authenticated', sub: '6f1c4c5e-8d2a-4f7e-9b1a-2c3d4e5f6a7b', session_id: 'x', is_anonymous: false,
  });

  it('proves the Supabase legacy-secret recipe of docs/providers.md: a token jose signs with the secret verifies', async () => {
    const db = await fresh();
    // the recipe, as docs/providers.md writes it (the file ends with a newline, as `echo` leaves it)
    const secretFile = file(`${supabaseSecret}\n`, 'jwt-secret.txt');
    const recipe = readFileSync(new URL('../docs/providers.md', import.meta.url), 'utf8');
    expect(recipe).toContain('authdb keys add --provider supabase --issuer https://PROJECT_REF.supabase.co/auth/v1 \\\n  --hmac-secret-file jwt-secret.txt --alg HS256');
    expect(recipe).toContain('authdb provider update supabase --audience authenticated');

    const added = await run(db, ['keys', 'add', '--provider', 'supabase', '--issuer', issuer, '--hmac-secret-file', secretFile, '--alg', 'HS256']);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toMatch(/^added oct key \(no kid\) \(HS256\) to supabase; thumbprint oct:/m);
    const updated = await run(db, ['provider', 'update', 'supabase', '--audience', 'authenticated']);
    expect(updated.code, updated.stderr).toBe(0);

    const key = new TextEncoder().encode(supabaseSecret);
    const verified = await verify(db, await hsToken(key, supabaseClaims()));
    expect(verified.code, verified.stdout).toBe(0);
    expect(jsonOutput(verified)).toMatchObject({ valid: true, claims: { sub: supabaseClaims().sub, role: 'authenticated' } });
    // the trailing newline is not part of the secret …
    const withNewline = await verify(db, await hsToken(new TextEncoder().encode(`${supabaseSecret}\n`), supabaseClaims()));
    expect(withNewline.code).toBe(1);
    expect(jsonOutput(withNewline)).toMatchObject({ valid: false, code: 'bad_signature' });
    // … and the audience set by `provider update` is checked
    const otherAudience = await verify(db, await hsToken(key, { ...supabaseClaims(), aud: 'anon-api' }));
    expect(jsonOutput(otherAudience)).toMatchObject({ valid: false, code: 'audience_mismatch' });
  });

  it('--hmac-secret-env with --kid; a CRLF line end is not part of the secret either; HS384 and HS512', async () => {
    const db = await fresh();
    const secret = randomBytes(24).toString('hex'); // 48 characters
    const env = { SHARED_SECRET: secret };
    const added = await run(db, ['keys', 'add', '--provider', 'svc', '--issuer', 'https://svc.test', '--hmac-secret-env', 'SHARED_SECRET',
      '--alg', 'HS256', '--kid', 'svc-2024', '--json'], env);
    expect(added.code, added.stderr).toBe(0);
    expect(jsonOutput(added)).toMatchObject({ added: [{ kid: 'svc-2024', alg: 'HS256', kty: 'oct' }] });
    const token = await hsToken(new TextEncoder().encode(secret), { iss: 'https://svc.test' }, { kid: 'svc-2024' });
    expect((await verify(db, token)).code).toBe(0);
    // the same secret again: nothing changes
    const again = await run(db, ['keys', 'add', '--provider', 'svc', '--hmac-secret-env', 'SHARED_SECRET', '--alg', 'HS256', '--kid', 'svc-2024', '--json'], env);
    expect(jsonOutput(again)).toMatchObject({ added: [], unchanged: [{ kid: 'svc-2024' }] });

    const crlf = await run(db, ['keys', 'add', '--provider', 'svc', '--hmac-secret-file', file(`${secret}\r\n`), '--alg', 'HS384', '--kid', 'svc-384']);
    expect(crlf.code, crlf.stderr).toBe(0);
    const hs384 = await new SignJWT({ sub: 'bob', iss: 'https://svc.test', exp: now() + 60 })
      .setProtectedHeader({ alg: 'HS384', kid: 'svc-384' }).sign(new TextEncoder().encode(secret));
    expect((await verify(db, hs384)).code).toBe(0);
    // 48 bytes are too few for HS512
    expectOneLineError(await run(db, ['keys', 'add', '--provider', 'svc', '--hmac-secret-env', 'SHARED_SECRET', '--alg', 'HS512'], env), 1,
      /^authdb: HS512 needs a secret of at least 64 bytes; this one has 48$/m);
  });

  it('a secret too short for the algorithm, empty, or missing is refused with one line; nothing is written', async () => {
    const db = await fresh();
    const short = 'x'.repeat(31);
    const base = ['keys', 'add', '--provider', 'supabase', '--issuer', issuer, '--alg', 'HS256'];
    const cases: [string[], Record<string, string>, RegExp][] = [
      [['--hmac-secret-file', file(`${short}\n`)], {}, /^authdb: HS256 needs a secret of at least 32 bytes; this one has 31$/m],
      [['--hmac-secret-env', 'SHORT'], { SHORT: short }, /HS256 needs a secret of at least 32 bytes; this one has 31/],
      [['--hmac-secret-file', file('\n')], {}, /the secret in .* is empty/],
      [['--hmac-secret-env', 'NOT_SET_ANYWHERE'], {}, /the environment variable NOT_SET_ANYWHERE is not set/],
      [['--hmac-secret-file', join(dir, 'no-such-secret.txt')], {}, /cannot read .*no-such-secret\.txt: no such file/],
      [['--hmac-secret-file', file(SECRET_JWK)], {}, /f\d+\.json holds a JWK, not a raw secret/],
      [['--hmac-secret-file', file(Buffer.alloc(5000, 0x61))], {}, /the secret in .* is over 4096 bytes: is it the right file\?/],
    ];
    for (const [args, env, pattern] of cases) {
      const result = await run(db, [...base, ...args], env);
      expectOneLineError(result, 1, pattern);
      expect(result.stderr + result.stdout).not.toContain(short);
      expectJsonError(await run(db, [...base, ...args, '--json'], env), 1, pattern);
    }
    expect(await providerRows(db, 'supabase')).toBe(0);
  });

  it('never prints the secret: not in keys add, keys list, provider list, or their --json', async () => {
    const db = await fresh();
    const secret = `${randomBytes(24).toString('base64url')}-secret`;
    const other = `${randomBytes(24).toString('base64url')}-other`;
    const encodings = [secret, other].flatMap((value) =>
      [value, Buffer.from(value).toString('base64url'), Buffer.from(value).toString('base64'), Buffer.from(value).toString('hex')]);
    const env = { S: secret, OTHER: other };
    const outputs = [
      await run(db, ['keys', 'add', '--provider', 'p', '--hmac-secret-env', 'S', '--alg', 'HS256', '--kid', 'k'], env),
      await run(db, ['keys', 'add', '--provider', 'p', '--hmac-secret-env', 'S', '--alg', 'HS256', '--kid', 'k', '--json'], env),
      await run(db, ['keys', 'add', '--provider', 'p', '--hmac-secret-env', 'OTHER', '--alg', 'HS256', '--kid', 'k'], env), // a conflict
      await run(db, ['keys', 'list']),
      await run(db, ['keys', 'list', '--json']),
      await run(db, ['provider', 'list', '--json']),
    ];
    expect(outputs[2]!.code).toBe(1);
    for (const output of outputs) {
      for (const encoding of encodings) expect(output.stdout + output.stderr).not.toContain(encoding);
    }
    const { rows } = await db.pool.query('SELECT public_jwk FROM auth.keys');
    expect(rows[0].public_jwk).not.toHaveProperty('k');
  });
});

describe('keys list and keys revoke (issue 9.9)', { timeout: BINARY_TESTS_MS }, () => {
  it('revokes a key without kid by the thumbprint keys list shows; its tokens stop verifying at once', async () => {
    const db = await fresh();
    const { jwk, privateKey } = publicJwk('ec');
    expect((await run(db, ['keys', 'add', '--provider', 'acme', '--issuer', 'https://acme.test', '--file', file({ keys: [jwk] })])).code).toBe(0);
    const listed = await run(db, ['keys', 'list']);
    const [line] = listed.stdout.trim().split('\n');
    expect(line).toMatch(/^acme\t\(no kid\)\tES256\tactive\tstatic\t[\w-]{43}$/);
    const thumbprint = line!.split('\t')[5]!;
    expect(jsonOutput<{ thumbprint: string }[]>(await run(db, ['keys', 'list', '--json']))[0]!.thumbprint).toBe(thumbprint);

    const token = await new SignJWT({ sub: 'alice', iss: 'https://acme.test', exp: now() + 60 }).setProtectedHeader({ alg: 'ES256' }).sign(privateKey);
    expect((await verify(db, token)).code).toBe(0);
    const revoked = await run(db, ['keys', 'revoke', '--thumbprint', thumbprint, '--json']);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(jsonOutput(revoked)).toEqual({ provider: 'acme', thumbprint, revoked: 1 });
    const rejected = await verify(db, token);
    expect(rejected.code).toBe(1);
    expect(jsonOutput(rejected)).toMatchObject({ valid: false, code: expect.stringMatching(/^(key_revoked|unknown_key)$/) });
    expect((await run(db, ['keys', 'list'])).stdout).toMatch(/\tES256\trevoked\tstatic\t/);
    // again: nothing left to revoke, and it says so
    const again = await run(db, ['keys', 'revoke', '--thumbprint', thumbprint]);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(`key with thumbprint ${thumbprint} of acme was already revoked\n`);
  });

  it('keys revoke KID needs --provider only when two providers share the kid', async () => {
    const db = await fresh();
    for (const provider of ['a', 'b']) {
      expect((await run(db, ['keys', 'add', '--provider', provider, '--issuer', `https://${provider}.test`, '--file', file(publicJwk('ed25519', 'shared').jwk)])).code).toBe(0);
    }
    expect((await run(db, ['keys', 'add', '--provider', 'a', '--file', file(publicJwk('ed25519', 'only-a').jwk)])).code).toBe(0);

    expectOneLineError(await run(db, ['keys', 'revoke', 'shared']), 1, /^authdb: kid shared is used by providers a, b: name one with --provider$/m);
    expectJsonError(await run(db, ['keys', 'revoke', 'shared', '--json']), 1, /kid shared is used by providers a, b/);
    expect(await count(db, "SELECT count(*) FROM auth.keys WHERE status = 'revoked'")).toBe(0);

    const one = await run(db, ['keys', 'revoke', 'shared', '--provider', 'b']);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toBe('revoked key shared of b\n');
    const statuses = await db.pool.query("SELECT p.name, k.status FROM auth.keys k JOIN auth.providers p ON p.id = k.provider_id WHERE k.kid = 'shared' ORDER BY 1");
    expect(statuses.rows).toEqual([{ name: 'a', status: 'active' }, { name: 'b', status: 'revoked' }]);

    const listed = jsonOutput<{ provider: string; kid: string; status: string }[]>(await run(db, ['keys', 'list', '--provider', 'b', '--json']));
    expect(listed.map((key) => [key.provider, key.kid, key.status])).toEqual([['b', 'shared', 'revoked']]);
    const unique = await run(db, ['keys', 'revoke', 'only-a', '--json']);
    expect(jsonOutput(unique)).toEqual({ provider: 'a', kid: 'only-a', revoked: 1 });
  });

  it('unknown kid, thumbprint or provider, and bad usage: one line, JSON errors, exit codes', async () => {
    const db = await fresh();
    expect((await run(db, ['keys', 'add', '--provider', 'a', '--issuer', 'https://a.test', '--file', file(publicJwk('ed25519', 'k1').jwk)])).code).toBe(0);
    const cases: [string[], number, RegExp][] = [
      [['keys', 'revoke', 'nope'], 1, /^authdb: no key with kid nope$/m],
      [['keys', 'revoke', 'k1', '--provider', 'ghost'], 1, /^authdb: no provider named ghost$/m],
      [['keys', 'revoke', '--thumbprint', 'AAAA'], 1, /^authdb: no key with thumbprint AAAA$/m],
      [['keys', 'revoke'], 2, /name the key: a KID, or --thumbprint TP/],
      [['keys', 'revoke', 'k1', '--thumbprint', 'AAAA'], 2, /give either a KID or --thumbprint TP, not both/],
      [['keys', 'list', '--provider', 'ghost'], 1, /^authdb: no provider named ghost$/m],
    ];
    for (const [args, code, pattern] of cases) {
      expectJsonError(await run(db, [...args, '--json']), code, pattern);
    }
    expect(await count(db, "SELECT count(*) FROM auth.keys WHERE status = 'revoked'")).toBe(0);
  });

  it('prints a kid with terminal escape codes escaped in keys add, list and revoke; --json keeps it exact', async () => {
    const db = await fresh();
    // ESC sequences (clear screen, colour), CR to overwrite the line, C1 CSI, a right-to-left override
    const kid = 'evil\u001b[2J\u001b[31m\r\u009b1m\u202eok\u0007';
    const escaped = 'evil\\x1b[2J\\x1b[31m\\x0d\\x9b1m\\u202eok\\x07';
    const raw = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e]/;
    const added = await run(db, ['keys', 'add', '--provider', 'acme', '--issuer', 'https://acme.test', '--file', file(publicJwk('ec', kid).jwk)]);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toContain(`added EC key ${escaped} (ES256) to acme`);
    expect(added.stdout).not.toMatch(raw);

    const listed = await run(db, ['keys', 'list']);
    expect(listed.stdout).not.toMatch(raw);
    expect(listed.stdout.split('\n')[0]!.split('\t')[1]).toBe(escaped);
    const json = await run(db, ['keys', 'list', '--json']);
    expect(json.stdout).not.toMatch(raw);
    expect(jsonOutput<{ kid: string }[]>(json)[0]!.kid).toBe(kid);

    // a second key under that kid is refused; the message escapes it too
    const conflict = await run(db, ['keys', 'add', '--provider', 'acme', '--file', file(publicJwk('ec', kid).jwk)]);
    expectOneLineError(conflict, 1, /already has a different ES256 key with kid evil\\x1b\[2J/);
    expect(conflict.stderr).not.toMatch(raw);

    // revoke by the kid itself (as a program would pass it), then the messages escape it
    const revoked = await run(db, ['keys', 'revoke', kid]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toBe(`revoked key ${escaped} of acme\n`);
  });
});
