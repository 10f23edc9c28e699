// `authdb revoke user|token|session`, `authdb revocations list|prune`, `--max-token-age` on
// `provider add|update`, and `sync-jwks` pruning, through the built binary against a real Postgres:
// what each prints (people and --json), and its errors (unknown provider exit 1, bad values exit 2).
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authdb, expectOneLineError, jsonOutput, type CliResult } from './support/cli.js';
import { createTestDatabase, dropRoles, type TestDatabase } from './support/db.js';
import { jwks, servedKey, startJwksServer, type JwksServer } from './support/jwks-server.js';
import { TestIssuer } from './support/tokens.js';

// Each test runs the binary several times (about 1 s of CPU each); on a loaded machine that adds up.
const BINARY_TESTS_MS = 300_000;
let db: TestDatabase;
let idp: TestIssuer;
let kid: string;
let server: JwksServer;
const OTHER = `authdb_other_${randomBytes(4).toString('hex')}`;
const PASSWORD = randomBytes(12).toString('hex');
const now = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  db = await createTestDatabase();
  idp = await TestIssuer.create(db.pool, 'idp');
  kid = await idp.addKey('ES256');
  // a second provider: its subjects carry the prefix `partner:`
  await db.pool.query(`SELECT auth.add_provider('partner', 'https://partner.test')`);
  await db.pool.query(`UPDATE auth.providers SET subject_prefix = 'partner:' WHERE name = 'partner'`);
  await db.pool.query(`CREATE ROLE ${OTHER} LOGIN PASSWORD '${PASSWORD}'`);
  server = await startJwksServer();
});
afterAll(async () => {
  await server?.close();
  await db?.drop();
  await dropRoles(OTHER);
});

const run = (args: string[]): Promise<CliResult> => authdb([...args, '--database-url', db.url]);

async function verifyCode(token: string): Promise<string | null> {
  const outcome = jsonOutput<{ valid: boolean; code?: string }>(await run(['verify', token, '--json']));
  return outcome.valid ? null : outcome.code!;
}

interface Entry {
  provider: string;
  kind: string;
  value: string;
  issuedBefore: string | null;
  revokedAt: string;
  expiresAt: string | null;
  userId: string | null;
}

describe('authdb revoke', { timeout: BINARY_TESTS_MS }, () => {
  it('user: rejects the tokens issued before now, lets a later sign-in pass; --json prints the entry', async () => {
    const before = await idp.sign(kid, { sub: 'alice', iat: now() - 10 });
    expect(await verifyCode(before)).toBeNull();
    const result = await run(['revoke', 'user', 'alice', '--provider', 'idp', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const entry = jsonOutput<Entry>(result);
    expect(entry).toMatchObject({ provider: 'idp', kind: 'subject', value: 'alice', userId: 'alice', expiresAt: null });
    expect(Math.abs(Date.parse(entry.issuedBefore!) - Date.now())).toBeLessThan(60_000);
    expect(await verifyCode(before)).toBe('revoked');
    expect(await verifyCode(await idp.sign(kid, { sub: 'alice', iat: now() + 2 }))).toBeNull();
  });

  it('user --before: an ISO 8601 time with its offset, or epoch seconds; the line for people names auth.user_id()', async () => {
    const iso = await run(['revoke', 'user', 'bob', '--provider', 'idp', '--before', '2020-01-01T00:00:00Z']);
    expect(iso.code, iso.stderr).toBe(0);
    expect(iso.stdout).toBe('revoked sub "bob" of idp: its tokens issued before 2020-01-01T00:00:00.000Z are rejected\n');
    expect(await verifyCode(await idp.sign(kid, { sub: 'bob', iat: 1577836799 }))).toBe('revoked');
    expect(await verifyCode(await idp.sign(kid, { sub: 'bob' }))).toBeNull();

    const offset = jsonOutput<Entry>(await run(['revoke', 'user', 'carol', '--provider', 'idp', '--before', '2025-06-01 14:00+02:00', '--json']));
    expect(offset.issuedBefore).toBe('2025-06-01T12:00:00.000Z');
    const epoch = jsonOutput<Entry>(await run(['revoke', 'user', 'dave', '--provider', 'idp', '--before', '1748779200', '--json']));
    expect(epoch.issuedBefore).toBe('2025-06-01T12:00:00.000Z');

    const prefixed = await run(['revoke', 'user', 'erin', '--provider', 'partner', '--before', 'now']);
    expect(prefixed.code, prefixed.stderr).toBe(0);
    expect(prefixed.stdout).toMatch(/^revoked sub "erin" of partner: its tokens issued before \S+ are rejected \(auth\.user_id\(\) "partner:erin"\)\n$/);
  });

  it('token and session: by jti and by sid', async () => {
    const token = await idp.sign(kid, { sub: 'frank', jti: 'jti-cli', sid: 'sid-1' });
    const sameSession = await idp.sign(kid, { sub: 'frank', jti: 'jti-other', sid: 'sid-cli' });
    const byJti = await run(['revoke', 'token', 'jti-cli', '--provider', 'idp']);
    expect(byJti.code, byJti.stderr).toBe(0);
    expect(byJti.stdout).toBe('revoked jti "jti-cli" of idp: every token with it is rejected\n');
    expect(await verifyCode(token)).toBe('revoked');
    expect(await verifyCode(sameSession)).toBeNull();
    const bySid = jsonOutput<Entry>(await run(['revoke', 'session', 'sid-cli', '--provider', 'idp', '--json']));
    expect(bySid).toMatchObject({ provider: 'idp', kind: 'session', value: 'sid-cli', issuedBefore: null, userId: null });
    expect(await verifyCode(sameSession)).toBe('revoked');
    // the rejection, as `authdb verify` prints it
    const verify = await run(['verify', sameSession]);
    expectOneLineError(verify, 1, /jwt rejected: revoked \(the session \("sid"\) was revoked for provider idp\)/);
    expect(verify.stderr).not.toContain(sameSession);
  });

  it('an unknown provider is one line and exit 1 (--json: an error object)', async () => {
    for (const args of [['revoke', 'user', 'x', '--provider', 'nope'], ['revoke', 'token', 'x', '--provider', 'nope'], ['revoke', 'session', 'x', '--provider', 'nope']]) {
      expectOneLineError(await run(args), 1, /no provider named nope/);
    }
    const json = await run(['revoke', 'user', 'x', '--provider', 'nope', '--json']);
    expectOneLineError(json, 1, /no provider named nope/);
    expect(jsonOutput<{ error: { code: string } }>(json).error.code).toBe('failed');
    expect(Number((await db.pool.query('SELECT count(*) AS n FROM auth.revocations r JOIN auth.providers p ON p.id = r.provider_id WHERE r.value = $1', ['x'])).rows[0].n)).toBe(0);
  });

  it.each([
    ['a time without an offset', ['revoke', 'user', 'x', '--provider', 'idp', '--before', '2025-06-01T12:00:00'], /--before expects a date and time with its offset/],
    ['a time that is not one', ['revoke', 'user', 'x', '--provider', 'idp', '--before', 'yesterday'], /--before expects/],
    ['an impossible date', ['revoke', 'user', 'x', '--provider', 'idp', '--before', '2025-13-01T00:00:00Z'], /--before expects/],
    ['no --provider', ['revoke', 'token', 'x'], /--provider NAME is required/],
    ['an invalid provider name', ['revoke', 'session', 'x', '--provider', 'a b'], /invalid provider name/],
    ['an empty value', ['revoke', 'user', '', '--provider', 'idp'], /must be 1 to 1024 bytes/],
    ['no value', ['revoke', 'user', '--provider', 'idp'], /missing required argument/],
    ['--before on a token', ['revoke', 'token', 'x', '--provider', 'idp', '--before', 'now'], /unknown option '--before'/],
  ])('%s is a usage error: one line, exit 2', async (_case, args, pattern) => {
    expectOneLineError(await run(args as string[]), 2, pattern);
  });

  it('a login that does not own the auth schema is refused, with one line and nothing revoked', async () => {
    const url = new URL(db.url);
    url.username = OTHER;
    url.password = PASSWORD;
    const result = await authdb(['revoke', 'user', 'mallory', '--provider', 'idp', '--database-url', url.toString(), '--json']);
    expectOneLineError(result, 1, /permission denied/);
    expect(jsonOutput<{ error: { code: string } }>(result).error.code).toBe('permission_denied');
    expect((await db.pool.query(`SELECT count(*)::int AS n FROM auth.revocations WHERE value = 'mallory'`)).rows[0].n).toBe(0);
  });

  it('--help teaches what SUB is, and gives examples', async () => {
    const user = await authdb(['revoke', 'user', '--help']);
    expect(user.code).toBe(0);
    expect(user.stdout).toMatch(/--before <time>/);
    expect(user.stdout).toMatch(/not auth\.user_id\(\)/);
    expect(user.stdout).toMatch(/authdb revoke user alice --provider acme --before 2025-06-01T12:00:00Z/);
    const session = await authdb(['revoke', 'session', '--help']);
    expect(session.stdout).toMatch(/"sid"/);
  });
});

describe('authdb revocations list and prune', { timeout: BINARY_TESTS_MS }, () => {
  it('list: every entry, or one provider\'s; --json; values from tokens are escaped', async () => {
    await db.pool.query(`SELECT auth.revoke_token('partner', E'evil\\x1b[2Jjti')`);
    const all = jsonOutput<Entry[]>(await run(['revocations', 'list', '--json']));
    expect(all.map((entry) => `${entry.provider}/${entry.kind}/${entry.value}`)).toEqual(expect.arrayContaining([
      'idp/subject/alice', 'idp/token/jti-cli', 'idp/session/sid-cli', 'partner/subject/erin', 'partner/token/evil\u001b[2Jjti',
    ]));
    const partner = jsonOutput<Entry[]>(await run(['revocations', 'list', '--provider', 'partner', '--json']));
    expect(partner.every((entry) => entry.provider === 'partner')).toBe(true);
    expect(partner).toHaveLength(2);
    const people = await run(['revocations', 'list', '--provider', 'partner']);
    expect(people.code, people.stderr).toBe(0);
    expect(people.stdout).toContain('partner\ttoken\tevil\\x1b[2Jjti\tevery token with this jti\trevoked ');
    expect(people.stdout).not.toContain('\u001b');
    expect(people.stdout).toMatch(/^partner\tsubject\terin\ttokens issued before \S+ \(auth\.user_id\(\) "partner:erin"\)\trevoked \S+\tkept \(the provider has no --max-token-age\)$/m);
  });

  it('list: a provider without entries, and an unknown provider (exit 1)', async () => {
    await db.pool.query(`SELECT auth.add_provider('empty', 'https://empty.test')`);
    const empty = await run(['revocations', 'list', '--provider', 'empty']);
    expect(empty.stdout).toBe('provider empty has no revocations\n');
    expect(jsonOutput(await run(['revocations', 'list', '--provider', 'empty', '--json']))).toEqual([]);
    expectOneLineError(await run(['revocations', 'list', '--provider', 'nope']), 1, /no provider named nope/);
  });

  it('prune: drops the dead entries only, once the provider has a maximum token age; --json', async () => {
    await db.pool.query(`UPDATE auth.revocations SET revoked_at = now() - interval '2 days'
                          WHERE kind <> 'subject' AND provider_id = (SELECT id FROM auth.providers WHERE name = 'idp')`);
    const kept = jsonOutput<{ removed: number; remaining: number; unbounded: number }>(await run(['revocations', 'prune', '--json']));
    expect(kept.removed).toBe(0); // no provider has a maximum token age yet
    expect(kept.unbounded).toBe(kept.remaining);

    const update = await run(['provider', 'update', 'idp', '--max-token-age', '1d']);
    expect(update.code, update.stderr).toBe(0);
    expect(update.stdout).toMatch(/\(maxTokenAgeSeconds\).*; max token age 86400 s\n$/);
    const list = jsonOutput<Entry[]>(await run(['revocations', 'list', '--provider', 'idp', '--json']));
    expect(list.find((entry) => entry.value === 'alice')!.expiresAt).not.toBeNull();

    const result = await run(['revocations', 'prune']);
    expect(result.code, result.stderr).toBe(0);
    // idp: jti-cli, sid-cli (2 days old) and bob, dave, carol (before 2025-06-02) are dead; alice is live
    expect(result.stdout).toMatch(/^pruned 5 revocation\(s\); \d+ remain \(\d+ of providers without --max-token-age, kept\)\n$/);
    const left = jsonOutput<Entry[]>(await run(['revocations', 'list', '--provider', 'idp', '--json']));
    expect(left.map((entry) => entry.value)).toEqual(['alice']);
  });
});

describe('--max-token-age', { timeout: BINARY_TESTS_MS }, () => {
  it('provider update sets it (seconds or with a unit) and none removes it; bad values are usage errors', async () => {
    const old = await idp.sign(kid, { sub: 'grace', iat: now() - 7200, exp: now() + 86400 });
    expect(await verifyCode(old)).toBeNull(); // 1 day
    const json = jsonOutput<{ maxTokenAgeSeconds: number | null }>(await run(['provider', 'update', 'idp', '--max-token-age', '3600', '--json']));
    expect(json.maxTokenAgeSeconds).toBe(3600);
    expect(await verifyCode(old)).toBe('expired');
    expect(await verifyCode(await idp.sign(kid, { sub: 'grace', iat: undefined }))).toBe('missing_claim');
    expect(jsonOutput<{ maxTokenAgeSeconds: number | null }>(await run(['provider', 'update', 'idp', '--max-token-age', '90m', '--json'])).maxTokenAgeSeconds).toBe(5400);
    const listed = jsonOutput<{ name: string; maxTokenAgeSeconds: number | null }[]>(await run(['provider', 'list', '--json']));
    expect(listed.find((provider) => provider.name === 'idp')!.maxTokenAgeSeconds).toBe(5400);
    const none = await run(['provider', 'update', 'idp', '--max-token-age', 'none']);
    expect(none.code, none.stderr).toBe(0);
    expect(none.stdout).not.toMatch(/max token age/);
    expect(await verifyCode(old)).toBeNull();
    for (const value of ['0', '-5', '1w', '11y', 'soon', '400000000']) {
      expectOneLineError(await run(['provider', 'update', 'idp', '--max-token-age', value]), 2, /--max-token-age/);
    }
  });

  it('provider add sets it', async () => {
    const key = servedKey('aged-key', 'EdDSA');
    server.set('/aged/jwks.json', { kind: 'json', body: jwks(key), maxAge: 600 });
    const result = await run(['provider', 'add', 'aged', '--jwks-url', server.url('/aged/jwks.json'), '--issuer', 'https://aged.test', '--max-token-age', '15m']);
    expect(result.code, result.stderr).toBe(0);
    const { rows } = await db.pool.query(`SELECT max_token_age_seconds FROM auth.providers WHERE name = 'aged'`);
    expect(rows[0].max_token_age_seconds).toBe(900);
    expect(await verifyCode(await key.sign({ iss: 'https://aged.test', sub: 'x', iat: now() - 1000, exp: now() + 600 }))).toBe('expired');
    expect(await verifyCode(await key.sign({ iss: 'https://aged.test', sub: 'x', iat: now() - 60, exp: now() + 600 }))).toBeNull();
  });

  it('sync-jwks prunes dead entries after syncing', async () => {
    await db.pool.query(`SELECT auth.revoke_token('aged', 'old-jti'), auth.revoke_token('aged', 'new-jti')`);
    await db.pool.query(`UPDATE auth.revocations SET revoked_at = now() - interval '1 hour' WHERE value = 'old-jti'`);
    const result = await run(['sync-jwks', '--provider', 'aged', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const { rows } = await db.pool.query(`SELECT value FROM auth.revocations r JOIN auth.providers p ON p.id = r.provider_id WHERE p.name = 'aged' ORDER BY value`);
    expect(rows.map((row) => row.value)).toEqual(['new-jti']);
  });
});
