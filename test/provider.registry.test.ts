// Provider registry: add (discovery, first sync all-or-nothing, shared-JWKS audience rule), list,
// remove; and the CLI end to end (exit codes, --json, --watch stopping on SIGTERM).
import { createPrivateKey } from 'node:crypto';
import { SignJWT } from 'jose';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addProvider, type AddProviderOptions } from '../src/providers/add.js';
import { listProviders, removeProvider } from '../src/providers/registry.js';
import { startAuthdb } from './support/cli.js';
import { type TestDatabase, withPoolClient } from './support/db.js';
import { closeJwksFixture, ED25519_CERT, ED25519_CERT_PRIVATE_KEY, FAST_FETCH, jwks, type JwksServer, openJwksFixture, servedKey } from './support/jwks-server.js';

let db: TestDatabase;
let server: JwksServer;

beforeAll(async () => ({ db, server } = await openJwksFixture()));
afterAll(async () => closeJwksFixture({ db, server }));

const FAST = { ...FAST_FETCH, retries: 1 };

const add = (options: AddProviderOptions) => withPoolClient(db.pool, (client) => addProvider(client, { fetch: FAST, ...options }));

const withClient = <T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> => withPoolClient(db.pool, work);

async function providerCount(name: string): Promise<number> {
  const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM auth.providers WHERE name = $1', [name]);
  return rows[0].n;
}

async function verifySub(token: string): Promise<string> {
  const { rows } = await db.pool.query('SELECT auth.verify($1) ->> $2 AS sub', [token, 'sub']);
  return rows[0].sub;
}

describe('provider add', () => {
  it('discovers the JWKS URL through the OpenID configuration and checks its issuer', async () => {
    const key = servedKey('disc');
    const issuer = server.url('/tenant-a');
    server.set('/tenant-a/.well-known/openid-configuration', { kind: 'json', body: { issuer, jwks_uri: server.url('/tenant-a/keys') } });
    server.set('/tenant-a/keys', { kind: 'json', body: jwks(key), maxAge: 900 });
    const result = await add({ name: 'disc', issuer, discover: true, audiences: ['api'] });
    expect(result).toMatchObject({ provider: 'disc', added: 1, jwksUrl: server.url('/tenant-a/keys') });
    expect(await verifySub(await key.sign({ iss: issuer, aud: 'api' }))).toBe('alice');
    const { rows } = await db.pool.query('SELECT discovered_from, extract(epoch FROM next_refresh_at - now())::int AS s FROM auth.providers WHERE name = $1', ['disc']);
    expect(rows[0].discovered_from).toBe(server.url('/tenant-a/.well-known/openid-configuration'));
    // max-age 900, but revalidated within refresh-max (60 s by default) so new keys arrive in time
    expect(rows[0].s).toBeGreaterThan(50);
    expect(rows[0].s).toBeLessThanOrEqual(60);

    // a configuration that names another issuer is refused, and nothing is registered
    server.set('/tenant-b/.well-known/openid-configuration', { kind: 'json', body: { issuer: 'https://evil.example', jwks_uri: server.url('/tenant-a/keys') } });
    await expect(add({ name: 'disc-b', issuer: server.url('/tenant-b'), discover: true })).rejects.toThrow(/names issuer "https:\/\/evil.example"/);
    expect(await providerCount('disc-b')).toBe(0);
    // a jwks_uri that is plain http on a non-loopback host is refused
    server.set('/tenant-c/.well-known/openid-configuration', { kind: 'json', body: { issuer: server.url('/tenant-c'), jwks_uri: 'http://idp.example/keys' } });
    await expect(add({ name: 'disc-c', issuer: server.url('/tenant-c'), discover: true })).rejects.toThrow(/plain http is refused/);
  });

  it('a failing first sync leaves nothing registered', async () => {
    server.set('/down/jwks.json', { kind: 'status', status: 503 });
    await expect(add({ name: 'down', issuer: 'https://down.test', jwksUrl: server.url('/down/jwks.json') })).rejects.toThrow(/HTTP 503/);
    server.set('/down/jwks.json', { kind: 'json', body: { keys: [{ kty: 'OKP', crv: 'Ed25519', kid: 'bad', x: Buffer.alloc(32, 0xff).toString('base64url') }] } });
    await expect(add({ name: 'down', issuer: 'https://down.test', jwksUrl: server.url('/down/jwks.json') })).rejects.toThrow(/no usable key/);
    expect(await providerCount('down')).toBe(0);
    const { rows } = await db.pool.query("SELECT count(*)::int AS n FROM auth.keys WHERE kid = 'bad'");
    expect(rows[0].n).toBe(0);
  });

  it('requires an audience for shared JWKS (Google, Firebase) before fetching anything', async () => {
    const before = server.requests.length;
    await expect(add({
      name: 'firebase', issuer: 'https://securetoken.google.com/my-project',
      jwksUrl: 'https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com',
    })).rejects.toThrow(/needs `audiences`/);
    await expect(add({ name: 'google', issuer: 'https://accounts.google.com', jwksUrl: 'https://www.googleapis.com/oauth2/v3/certs' })).rejects.toThrow(/needs `audiences`/);
    expect(server.requests.length).toBe(before);
    expect(await providerCount('firebase')).toBe(0);
  });

  it('refuses bad options with a clear message', async () => {
    await expect(add({ name: 'x1', jwksUrl: 'http://idp.example/jwks.json' })).rejects.toThrow(/plain http is refused/);
    await expect(add({ name: 'x2', jwksUrl: server.url('/j'), refreshMinSeconds: 600, refreshMaxSeconds: 60 })).rejects.toThrow(/`refreshMinSeconds` \(600\) is larger/);
    await expect(add({ name: 'x3', discover: true })).rejects.toThrow(/`discover` needs `issuer`/);
    await expect(add({ name: 'x4' })).rejects.toThrow(/a JWKS URL is needed/);
    await expect(add({ name: 'bad name!', jwksUrl: server.url('/j') })).rejects.toThrow(/provider name/);
    server.set('/dup/jwks.json', { kind: 'json', body: jwks(servedKey('dup')) });
    await add({ name: 'dup', issuer: 'https://dup.test', jwksUrl: server.url('/dup/jwks.json') });
    await expect(add({ name: 'dup', issuer: 'https://dup2.test', jwksUrl: server.url('/dup/jwks.json') })).rejects.toThrow(/already exists/);
    await expect(add({ name: 'dup2', issuer: 'https://dup.test', jwksUrl: server.url('/dup/jwks.json') })).rejects.toThrow(/already has issuer/);
  });

  it('takes keys published only as x5c certificates, and RSA keys without alg as RS256', async () => {
    const rsa = servedKey('entra', 'RS256', { omitAlg: true });
    const cert = { kty: 'OKP', use: 'sig', kid: 'cert', x5c: [ED25519_CERT] };
    server.set('/x5c/keys', { kind: 'json', body: jwks(rsa, cert) });
    const result = await add({ name: 'x5c', issuer: 'https://x5c.test', jwksUrl: server.url('/x5c/keys'), audiences: ['api'] });
    expect(result.added).toBe(2);
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ iss: 'https://x5c.test', aud: 'api', sub: 'carol', exp: now + 60 })
      .setProtectedHeader({ alg: 'EdDSA', kid: 'cert' })
      .sign(createPrivateKey(ED25519_CERT_PRIVATE_KEY));
    expect(await verifySub(token)).toBe('carol');
    expect(await verifySub(await rsa.sign({ iss: 'https://x5c.test', aud: 'api', sub: 'dave' }))).toBe('dave');
  });
});

describe('provider list and remove', () => {
  it('lists key counts, last sync, last error and next refresh; remove takes the keys along', async () => {
    const a = servedKey('l1');
    const b = servedKey('l2');
    server.set('/listed/jwks.json', { kind: 'json', body: jwks(a, b) });
    await add({ name: 'listed', issuer: 'https://listed.test', jwksUrl: server.url('/listed/jwks.json?secret=s3cret') });
    await db.pool.query("SELECT auth.revoke_key('l2', 'listed')");
    const row = (await withClient(listProviders)).find((p) => p.name === 'listed')!;
    expect(row).toMatchObject({ issuer: 'https://listed.test', keys: { active: 1, retired: 0, revoked: 1 }, lastError: null });
    expect(row.jwksUrl).toBe(server.url('/listed/jwks.json?…')); // the query may hold a secret: never printed
    expect(row.lastSyncedAt).toBeInstanceOf(Date);
    expect(row.nextRefreshAt!.getTime()).toBeGreaterThan(Date.now());

    expect(await withClient((client) => removeProvider(client, 'listed'))).toEqual({ provider: 'listed', keysRemoved: 2 });
    expect(await providerCount('listed')).toBe(0);
    await expect(withClient((client) => removeProvider(client, 'listed'))).rejects.toThrow('no provider named listed');
  });
});

/** The built binary on this file's database. */
const cli = (args: string[]) => startAuthdb(args, { env: { DATABASE_URL: db.url } });

describe('CLI', () => {
  it('provider add / list / sync-jwks / remove: exit codes and --json', async () => {
    const key = servedKey('cli1');
    server.set('/cli/jwks.json', { kind: 'json', body: jwks(key), etag: '"c1"', maxAge: 600 });
    const added = await cli(['provider', 'add', 'cli', '--jwks-url', server.url('/cli/jwks.json'), '--issuer', 'https://cli.test',
      '--audience', 'api', '--audience', 'admin', '--grace', '120', '--json']).done;
    expect(added.code).toBe(0);
    expect(JSON.parse(added.stdout)).toMatchObject({ provider: 'cli', added: 1 });
    const { rows } = await db.pool.query("SELECT audiences, grace_seconds FROM auth.providers WHERE name = 'cli'");
    expect(rows[0]).toEqual({ audiences: ['api', 'admin'], grace_seconds: 120 });

    const listed = await cli(['provider', 'list', '--json']).done;
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout).find((p: { name: string }) => p.name === 'cli').keys).toEqual({ active: 1, retired: 0, revoked: 0 });

    const ok = await cli(['sync-jwks', '--provider', 'cli']).done;
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^cli: not modified, 1 unchanged in \d+ ms/);

    server.set('/cli/jwks.json', { kind: 'status', status: 500 });
    const failed = await cli(['sync-jwks', '--provider', 'cli', '--force', '--json']).done;
    expect(failed.code).toBe(1);
    const summary = JSON.parse(failed.stdout);
    expect(summary).toMatchObject({ ok: false, providers: [{ provider: 'cli', ok: false }] });
    expect(failed.stderr.trim().split('\n')).toHaveLength(1);
    expect(failed.stderr).toMatch(/^authdb: 1 of 1 provider\(s\) failed: cli \(.*HTTP 500/);

    const duplicate = await cli(['provider', 'add', 'cli', '--jwks-url', server.url('/cli/jwks.json'), '--issuer', 'https://cli.test']).done;
    expect(duplicate.code).not.toBe(0);

    const removed = await cli(['provider', 'remove', 'cli', '--json']).done;
    expect(removed.code).toBe(0);
    expect(JSON.parse(removed.stdout)).toEqual({ provider: 'cli', keysRemoved: 1 });
  });

  it('sync-jwks --watch refreshes due providers and stops cleanly on SIGTERM', async () => {
    const key = servedKey('w1');
    server.set('/watch/jwks.json', { kind: 'json', body: jwks(key), maxAge: 600 });
    await add({ name: 'watched', issuer: 'https://watched.test', jwksUrl: server.url('/watch/jwks.json') });
    await db.pool.query("UPDATE auth.providers SET next_refresh_at = now() - interval '1 second'");
    const before = server.count('/watch/jwks.json');
    const watch = cli(['sync-jwks', '--watch', '--interval', '1', '--json']);
    const deadline = Date.now() + 30_000;
    while (server.count('/watch/jwks.json') === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(server.count('/watch/jwks.json')).toBeGreaterThan(before);
    watch.kill('SIGTERM');
    const result = await watch.done;
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(lines.find((line) => line.provider === 'watched')).toMatchObject({ ok: true, unchanged: 1 });
  });
});
