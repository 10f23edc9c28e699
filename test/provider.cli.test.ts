// `authdb provider add / update / list / remove` through the built binary against a real Postgres
// and a local JWKS server: subject prefixes on every path that creates a provider (issue 9.4),
// per-provider limits (migration 0007), usage errors (exit 2), JSON errors, escaped output
// (issue 9.9), and --help texts and docs that only name options the binary has.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProvider } from '../src/providers/registry.js';
import { authdb, expectOneLineError, jsonOutput, REPO_ROOT, type CliResult } from './support/cli.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { jwks, servedKey, startJwksServer, type JwksServer } from './support/jwks-server.js';

let server: JwksServer;
// Each test runs the binary many times (about 1 s of CPU each); on a loaded machine that adds up.
const BINARY_TESTS_MS = 600_000;
const databases: TestDatabase[] = [];
const dir = mkdtempSync(join(tmpdir(), 'authdb-provider-'));

beforeAll(async () => {
  server = await startJwksServer();
});
afterAll(async () => {
  await server?.close();
  await Promise.all(databases.map((db) => db.drop()));
});

async function fresh(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  databases.push(db);
  return db;
}

const run = (db: TestDatabase, args: string[]): Promise<CliResult> => authdb([...args, '--database-url', db.url]);

function expectJsonError(result: CliResult, exitCode: number, pattern: RegExp): void {
  expectOneLineError(result, exitCode, pattern);
  const { error } = jsonOutput<{ error: { code: string; message: string } }>(result);
  expect(error.code).toMatch(/^[a-z_]+$/);
  expect(`authdb: ${error.message}`).toMatch(pattern);
}

/** Serves a fresh key set at /NAME/jwks.json; returns the URL and the key that signs its tokens. */
function serve(name: string, alg: 'EdDSA' | 'ES256' | 'RS256' = 'EdDSA') {
  const key = servedKey(`${name}-key`, alg);
  server.set(`/${name}/jwks.json`, { kind: 'json', body: jwks(key), maxAge: 600 });
  return { url: server.url(`/${name}/jwks.json`), key };
}

async function prefixes(db: TestDatabase): Promise<Record<string, string | null>> {
  const { rows } = await db.pool.query('SELECT name, subject_prefix FROM auth.providers ORDER BY name');
  return Object.fromEntries(rows.map((row) => [row.name, row.subject_prefix]));
}

async function verify(db: TestDatabase, token: string): Promise<{ valid: boolean; code?: string }> {
  return jsonOutput(await run(db, ['verify', token, '--json']));
}

describe('subject prefixes (issue 9.4)', { timeout: BINARY_TESTS_MS }, () => {
  it('the first provider is bare, later ones get NAME:, --subject-prefix chooses, --shared-subjects none; keys add too', async () => {
    const db = await fresh();
    const add = (name: string, ...extra: string[]) =>
      run(db, ['provider', 'add', name, '--jwks-url', serve(name).url, '--issuer', `https://${name}.test`, ...extra, '--json']);
    const first = await add('first');
    expect(first.code, first.stderr).toBe(0);
    expect(jsonOutput(first)).toMatchObject({ provider: 'first', added: 1, subjectPrefix: null });
    expect(jsonOutput(await add('second'))).toMatchObject({ subjectPrefix: 'second:' });
    expect(jsonOutput(await add('partner', '--subject-prefix', 'partner|'))).toMatchObject({ subjectPrefix: 'partner|' });
    expect(jsonOutput(await add('sso', '--shared-subjects'))).toMatchObject({ subjectPrefix: null });
    // keys add creates a provider the same way
    const secret = join(dir, 'secret.txt');
    writeFileSync(secret, 'a'.repeat(32));
    const viaKeys = await run(db, ['keys', 'add', '--provider', 'legacy', '--issuer', 'https://legacy.test', '--hmac-secret-file', secret, '--alg', 'HS256', '--json']);
    expect(jsonOutput(viaKeys)).toMatchObject({ providerCreated: true, subjectPrefix: 'legacy:' });
    expect(await prefixes(db)).toEqual({ first: null, second: 'second:', partner: 'partner|', sso: null, legacy: 'legacy:' });

    // provider list shows it, for humans and in --json
    const listed = await run(db, ['provider', 'list']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^first\thttps:\/\/first\.test\tsub used bare\t1 active, 0 retired, 0 revoked\tlast sync /m);
    expect(listed.stdout).toMatch(/^partner\thttps:\/\/partner\.test\tsub prefixed with "partner\|"\t/m);
    expect(listed.stdout).toMatch(/^legacy\thttps:\/\/legacy\.test\tsub prefixed with "legacy:"\t1 active, 0 retired, 0 revoked\tstatic keys$/m);
    const json = jsonOutput<{ name: string; subjectPrefix: string | null }[]>(await run(db, ['provider', 'list', '--json']));
    expect(Object.fromEntries(json.map((row) => [row.name, row.subjectPrefix]))).toEqual(await prefixes(db));
  });

  it('refuses a prefix another provider has, and --subject-prefix with --shared-subjects (exit 2, nothing fetched)', async () => {
    const db = await fresh();
    expect((await run(db, ['provider', 'add', 'one', '--jwks-url', serve('one').url, '--issuer', 'https://one.test'])).code).toBe(0);
    expect((await run(db, ['provider', 'add', 'two', '--jwks-url', serve('two').url, '--issuer', 'https://two.test'])).code).toBe(0);
    const taken = await run(db, ['provider', 'add', 'three', '--jwks-url', serve('three').url, '--issuer', 'https://three.test', '--subject-prefix', 'two:']);
    expectOneLineError(taken, 1, /^authdb: provider two already has the subject prefix "two:"$/m);
    const before = server.requests.length;
    for (const command of [
      ['provider', 'add', 'four', '--jwks-url', serve('four').url, '--issuer', 'https://four.test'],
      ['keys', 'add', '--provider', 'four', '--issuer', 'https://four.test', '--hmac-secret-env', 'X', '--alg', 'HS256'],
    ]) {
      const both = [...command, '--subject-prefix', 'x:', '--shared-subjects'];
      expectJsonError(await run(db, [...both, '--json']), 2, /give either --subject-prefix or --shared-subjects, not both/);
    }
    expect(server.requests.length).toBe(before);
    expect(await prefixes(db)).toEqual({ one: null, two: 'two:' });
  });

  it('two providers created at the same moment cannot both be "the first": the second waits and gets a prefix', async () => {
    const db = await fresh();
    const a = await db.pool.connect();
    const b = await db.pool.connect();
    try {
      await a.query('BEGIN');
      await b.query('BEGIN');
      expect(await createProvider(a, { name: 'a', issuer: 'https://a.test' })).toMatchObject({ subjectPrefix: null });
      // b decides while a has not committed: without the lock, its snapshot would see no provider
      let settled = false;
      const second = createProvider(b, { name: 'b', issuer: 'https://b.test' }).finally(() => (settled = true));
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(settled).toBe(false);
      await a.query('COMMIT');
      expect(await second).toMatchObject({ subjectPrefix: 'b:' });
      await b.query('COMMIT');
    } finally {
      a.release();
      b.release();
    }
    expect(await prefixes(db)).toEqual({ a: null, b: 'b:' });
  });
});

describe('provider update', { timeout: BINARY_TESTS_MS }, () => {
  it('changes audiences, algorithms, leeway, subject prefix and limits; the keys stay', async () => {
    const db = await fresh();
    const { url, key } = serve('acme');
    expect((await run(db, ['provider', 'add', 'acme', '--jwks-url', url, '--issuer', 'https://acme.test'])).code).toBe(0);
    const keysBefore = await db.pool.query('SELECT id, status FROM auth.keys ORDER BY id');
    expect(keysBefore.rows).toHaveLength(1);

    const updated = await run(db, ['provider', 'update', 'acme', '--audience', 'api', '--audience', 'admin', '--algorithms', 'EdDSA,ES256',
      '--leeway', '5', '--subject-prefix', 'acme|', '--max-rsa-bits', '8192', '--max-keys', '64', '--json']);
    expect(updated.code, updated.stderr).toBe(0);
    expect(jsonOutput(updated)).toEqual({
      provider: 'acme', changed: ['audiences', 'algorithms', 'leewaySeconds', 'subjectPrefix', 'maxRsaBits', 'maxKeys'],
      audiences: ['api', 'admin'], algorithms: ['EdDSA', 'ES256'], leewaySeconds: 5, subjectPrefix: 'acme|', maxRsaBits: 8192, maxKeys: 64, maxTokenAgeSeconds: null, warnings: [],
    });
    const { rows: [row] } = await db.pool.query(
      "SELECT audiences, algorithms, leeway_seconds, subject_prefix, max_rsa_bits, max_keys FROM auth.providers WHERE name = 'acme'");
    expect(row).toEqual({ audiences: ['api', 'admin'], algorithms: ['EdDSA', 'ES256'], leeway_seconds: 5, subject_prefix: 'acme|', max_rsa_bits: 8192, max_keys: 64 });
    expect((await db.pool.query('SELECT id, status FROM auth.keys ORDER BY id')).rows).toEqual(keysBefore.rows);

    // the new audience list is what verification checks
    expect(await verify(db, await key.sign({ iss: 'https://acme.test', aud: 'admin' }))).toMatchObject({ valid: true });
    expect(await verify(db, await key.sign({ iss: 'https://acme.test', aud: 'other' }))).toMatchObject({ valid: false, code: 'audience_mismatch' });

    // only what is given changes; a human line sums it up
    const shared = await run(db, ['provider', 'update', 'acme', '--shared-subjects']);
    expect(shared.code, shared.stderr).toBe(0);
    expect(shared.stdout).toBe('updated provider acme (subjectPrefix): aud api, admin; algorithms EdDSA,ES256; leeway 5 s; sub used bare; max RSA 8192 bits; max 64 keys\n');
    // an allow-list without the provider's own algorithm is applied, with a warning
    const narrowed = await run(db, ['provider', 'update', 'acme', '--algorithms', 'ES256', '--max-keys', '1']);
    expect(narrowed.code).toBe(0);
    expect(narrowed.stderr).toBe("warning: acme: the provider's EdDSA key(s) no longer verify: their algorithm is not in --algorithms\n");
    expect(await verify(db, await key.sign({ iss: 'https://acme.test', aud: 'api' }))).toMatchObject({ valid: false, code: 'unsupported_algorithm' });
  });

  it('bad values are usage errors (exit 2); an unknown provider or a taken prefix exit 1; nothing changes', async () => {
    const db = await fresh();
    expect((await run(db, ['provider', 'add', 'acme', '--jwks-url', serve('acme2').url, '--issuer', 'https://acme.test'])).code).toBe(0);
    expect((await run(db, ['provider', 'add', 'beta', '--jwks-url', serve('beta').url, '--issuer', 'https://beta.test'])).code).toBe(0);
    const settings = async () => (await db.pool.query('SELECT * FROM auth.providers ORDER BY id')).rows;
    const before = await settings();
    const cases: [string[], number, RegExp][] = [
      [['acme', '--algorithms', 'RS256,none'], 2, /unsupported algorithm\(s\) in --algorithms: none/],
      [['acme', '--algorithms', 'rs256'], 2, /unsupported algorithm\(s\) in --algorithms: rs256/],
      [['acme', '--algorithms', ','], 2, /--algorithms needs at least one algorithm/],
      [['acme', '--leeway', '3601'], 2, /--leeway must be a whole number from 0 to 3600/],
      [['acme', '--leeway', 'abc'], 2, /--leeway expects a whole number, not "abc"/],
      [['acme', '--leeway', '-1'], 2, /--leeway expects a whole number/],
      [['acme', '--max-rsa-bits', '1024'], 2, /--max-rsa-bits must be a whole number from 2048 to 8192/],
      [['acme', '--max-keys', '0'], 2, /--max-keys must be a whole number from 1 to 1000/],
      [['acme', '--max-keys', '1001'], 2, /--max-keys must be a whole number from 1 to 1000/],
      [['acme', '--audience', ''], 2, /an audience must not be empty/],
      [['acme', '--subject-prefix', ''], 2, /--subject-prefix must be 1 to 64 characters/],
      [['acme', '--subject-prefix', 'a:', '--shared-subjects'], 2, /either --subject-prefix or --shared-subjects, not both/],
      [['acme'], 2, /nothing to change/],
      [['bad name', '--leeway', '1'], 2, /invalid provider name/],
      [['ghost', '--leeway', '1'], 1, /^authdb: no provider named ghost$/m],
      [['acme', '--subject-prefix', 'beta:'], 1, /^authdb: provider beta already has the subject prefix "beta:"$/m],
    ];
    for (const [args, code, pattern] of cases) {
      expectJsonError(await run(db, ['provider', 'update', ...args, '--json']), code, pattern);
    }
    expect(await settings()).toEqual(before);
  });
});

describe('provider add, list and remove through the binary', { timeout: BINARY_TESTS_MS }, () => {
  it('sets --max-rsa-bits, --max-keys, --leeway and --algorithms; bad values exit 2 before anything is fetched', async () => {
    const db = await fresh();
    const { url } = serve('limits');
    const added = await run(db, ['provider', 'add', 'limits', '--jwks-url', url, '--issuer', 'https://limits.test', '--algorithms', 'EdDSA',
      '--leeway', '0', '--max-rsa-bits', '8192', '--max-keys', '5', '--audience', 'api']);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toMatch(/^added provider limits \(issuer https:\/\/limits\.test; sub used bare\) with 1 key\(s\) from http:\/\/127\.0\.0\.1:\d+\/limits\/jwks\.json; next refresh /);
    const { rows: [row] } = await db.pool.query("SELECT algorithms, leeway_seconds, max_rsa_bits, max_keys, audiences FROM auth.providers WHERE name = 'limits'");
    expect(row).toEqual({ algorithms: ['EdDSA'], leeway_seconds: 0, max_rsa_bits: 8192, max_keys: 5, audiences: ['api'] });

    const before = server.requests.length;
    const cases: [string[], RegExp][] = [
      [['--algorithms', 'HS256,XX1'], /unsupported algorithm\(s\) in --algorithms: XX1/],
      [['--max-rsa-bits', '16384'], /--max-rsa-bits must be a whole number from 2048 to 8192/],
      [['--max-keys', 'many'], /--max-keys expects a whole number, not "many"/],
      [['--leeway', '1.5'], /--leeway expects a whole number/],
      [['--grace', 'x'], /--grace expects a whole number/],
      [['--refresh-min', '600', '--refresh-max', '60'], /--refresh-min \(600\) is larger than --refresh-max \(60\)/],
      [['--timeout', '0'], /--timeout expects a number of seconds/],
      [['--discover'], /give either --jwks-url or --discover, not both/],
    ];
    for (const [args, pattern] of cases) {
      const command = ['provider', 'add', 'other', '--jwks-url', serve('other').url, '--issuer', 'https://other.test', ...args];
      expectJsonError(await run(db, [...command, '--json']), 2, pattern);
    }
    expectOneLineError(await run(db, ['provider', 'add', 'other', '--issuer', 'https://other.test']), 2, /a JWKS URL is needed/);
    expectOneLineError(await run(db, ['provider', 'add', 'fb', '--issuer', 'https://securetoken.google.com/p',
      '--jwks-url', 'https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com']), 2, /provider fb needs --audience/);
    expect(server.requests.length).toBe(before);
    expect((await db.pool.query('SELECT name FROM auth.providers')).rows).toEqual([{ name: 'limits' }]);
  });

  it('--discover, --grace, --refresh-min/--refresh-max, --timeout and --allow-http through the binary', async () => {
    const db = await fresh();
    const issuer = server.url('/tenant');
    const key = servedKey('disc-key');
    server.set('/tenant/.well-known/openid-configuration', { kind: 'json', body: { issuer, jwks_uri: server.url('/tenant/keys') } });
    server.set('/tenant/keys', { kind: 'json', body: jwks(key), maxAge: 3000 });
    const discovered = await run(db, ['provider', 'add', 'disc', '--issuer', issuer, '--discover', '--audience', 'api',
      '--grace', '120', '--refresh-min', '60', '--refresh-max', '600', '--timeout', '5', '--json']);
    expect(discovered.code, discovered.stderr).toBe(0);
    expect(jsonOutput(discovered)).toMatchObject({ provider: 'disc', issuer, jwksUrl: server.url('/tenant/keys'), added: 1 });
    const { rows: [row] } = await db.pool.query(
      `SELECT discovered_from, grace_seconds, refresh_min_seconds, refresh_max_seconds, allow_http,
              extract(epoch FROM next_refresh_at - now())::int AS next FROM auth.providers WHERE name = 'disc'`);
    expect(row).toMatchObject({ discovered_from: `${issuer}/.well-known/openid-configuration`, grace_seconds: 120, refresh_min_seconds: 60,
      refresh_max_seconds: 600, allow_http: false });
    expect(row.next).toBeLessThanOrEqual(600); // max-age 3000 clamped to --refresh-max
    expect(await verify(db, await key.sign({ iss: issuer, aud: 'api' }))).toMatchObject({ valid: true });

    // an IPv4-mapped address reaches the loopback server, but is not on the loopback list: plain http needs --allow-http
    const { url } = serve('mapped');
    const mapped = url.replace('127.0.0.1', '[::ffff:127.0.0.1]');
    expectOneLineError(await run(db, ['provider', 'add', 'mapped', '--jwks-url', mapped, '--issuer', 'https://mapped.test']), 1, /plain http is refused/);
    const allowed = await run(db, ['provider', 'add', 'mapped', '--jwks-url', mapped, '--issuer', 'https://mapped.test', '--allow-http']);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect((await db.pool.query("SELECT allow_http FROM auth.providers WHERE name = 'mapped'")).rows).toEqual([{ allow_http: true }]);
  });

  it('a failed first sync or a duplicate exit 1 with one line (JSON error with --json) and register nothing', async () => {
    const db = await fresh();
    server.set('/down/jwks.json', { kind: 'status', status: 503 });
    const down = ['provider', 'add', 'down', '--jwks-url', server.url('/down/jwks.json'), '--issuer', 'https://down.test', '--timeout', '2'];
    expectOneLineError(await run(db, down), 1, /HTTP 503/);
    expectJsonError(await run(db, [...down, '--json']), 1, /HTTP 503/);
    const { url } = serve('dup');
    expect((await run(db, ['provider', 'add', 'dup', '--jwks-url', url, '--issuer', 'https://dup.test'])).code).toBe(0);
    expectJsonError(await run(db, ['provider', 'add', 'dup', '--jwks-url', url, '--issuer', 'https://dup2.test', '--json']), 1, /a provider named dup already exists/);
    expectJsonError(await run(db, ['provider', 'add', 'dup2', '--jwks-url', url, '--issuer', 'https://dup.test', '--json']), 1, /provider dup already has issuer https:\/\/dup\.test/);
    expect((await db.pool.query('SELECT name FROM auth.providers')).rows).toEqual([{ name: 'dup' }]);
  });

  it('provider list escapes control characters in issuer and sync error; remove takes the keys along', async () => {
    const db = await fresh();
    expect((await run(db, ['provider', 'list'])).stdout).toBe('no providers registered\n');
    expect(jsonOutput(await run(db, ['provider', 'list', '--json']))).toEqual([]);
    const { url } = serve('hostile');
    expect((await run(db, ['provider', 'add', 'hostile', '--jwks-url', url, '--issuer', 'https://hostile.test/\u001b]0;pwned\u0007'])).code).toBe(0);
    // what a sync records when a JWKS answers with a message of its own choosing
    await db.pool.query("UPDATE auth.providers SET last_error = $1, last_error_at = now() + interval '1 second' WHERE name = 'hostile'",
      ['bad key "\u001b[2J\u001b[1;1Hall good\u009b0m\u202e"']);
    const listed = await run(db, ['provider', 'list']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
    expect(listed.stdout).toContain('https://hostile.test/\\x1b]0;pwned\\x07');
    expect(listed.stdout).toContain('FAILING since ');
    expect(listed.stdout).toContain('bad key "\\x1b[2J\\x1b[1;1Hall good\\x9b0m\\u202e"');
    const json = await run(db, ['provider', 'list', '--json']);
    expect(json.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
    expect(jsonOutput<{ lastError: string }[]>(json)[0]!.lastError).toBe('bad key "\u001b[2J\u001b[1;1Hall good\u009b0m\u202e"');

    const removed = await run(db, ['provider', 'remove', 'hostile', '--json']);
    expect(jsonOutput(removed)).toEqual({ provider: 'hostile', keysRemoved: 1 });
    expect((await db.pool.query('SELECT count(*)::int AS n FROM auth.keys')).rows[0].n).toBe(0);
    const again = await run(db, ['provider', 'remove', 'hostile']);
    expectOneLineError(again, 1, /^authdb: no provider named hostile$/m);
    expectJsonError(await run(db, ['provider', 'remove', 'hostile', '--json']), 1, /no provider named hostile/);
  });
});

describe('--help and the docs', { timeout: BINARY_TESTS_MS }, () => {
  const commands = ['provider add', 'provider update', 'provider list', 'provider remove', 'keys add', 'keys list', 'keys revoke'];
  let help: Record<string, string>;
  beforeAll(async () => {
    help = Object.fromEntries(await Promise.all(commands.map(async (command) => {
      const result = await authdb([...command.split(' '), '--help']);
      expect(result.code).toBe(0);
      return [command, result.stdout] as const;
    })));
  });

  it('each provider and keys command teaches with an example line', () => {
    for (const command of commands) {
      expect(help[command], command).toMatch(/\nExamples?:\n {2}authdb /);
      expect(help[command], command).toContain(`authdb ${command}`);
    }
  });

  it('every option README.md and docs/ give a provider or keys command is one the binary has', () => {
    const texts = [readFileSync(join(REPO_ROOT, 'README.md'), 'utf8'),
      ...readdirSync(join(REPO_ROOT, 'docs')).filter((name) => name.endsWith('.md')).map((name) => readFileSync(join(REPO_ROOT, 'docs', name), 'utf8'))];
    const mentions = texts.join('\n').replace(/\\\n\s*/g, ' ').matchAll(/authdb (provider (?:add|update|list|remove)|keys (?:add|list|revoke))\b([^`\n|]*)/g);
    let checked = 0;
    for (const [, command, rest] of mentions) {
      for (const [option] of rest!.matchAll(/--[a-z][a-z-]*/g)) {
        if (option === '--json' || option === '--database-url') continue;
        expect(help[command!], `${command} ${option}`).toContain(`${option} `);
        checked += 1;
      }
    }
    expect(checked).toBeGreaterThan(30);
  });
});
