// What a sync refuses, through the built binary: a redirect away from https (the network attacker
// of docs/security.md §8), and a key set over the provider's limits (max_keys, max_rsa_bits). Each
// fails with one clear line, exit 1, and the provider's keys exactly as they were.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRedirect } from '../src/jwks/fetch.js';
import { authdb, expectOneLineError, jsonOutput } from './support/cli.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { jwks, servedKey, startJwksServer, TEST_TLS_CERT, type JwksServer } from './support/jwks-server.js';

let db: TestDatabase;
let tls: JwksServer; // https://127.0.0.1, trusted by the child through NODE_EXTRA_CA_CERTS
let plain: JwksServer; // http://127.0.0.1
let elsewhere: JwksServer; // http://127.0.0.2: another host, reachable without TLS
let caDir: string;
let env: Record<string, string>;

beforeAll(async () => {
  db = await createTestDatabase();
  [tls, plain, elsewhere] = await Promise.all([startJwksServer({ tls: true }), startJwksServer(), startJwksServer({ host: '127.0.0.2' })]);
  caDir = mkdtempSync(join(tmpdir(), 'authdb-ca-'));
  writeFileSync(join(caDir, 'ca.pem'), TEST_TLS_CERT);
  env = { NODE_EXTRA_CA_CERTS: join(caDir, 'ca.pem') };
});
afterAll(async () => {
  await Promise.all([tls?.close(), plain?.close(), elsewhere?.close()]);
  await db?.drop();
  if (caDir) rmSync(caDir, { recursive: true, force: true });
});

const run = (args: string[]) => authdb([...args, '--database-url', db.url], { env });

async function keySnapshot(name: string): Promise<string> {
  const { rows } = await db.pool.query(
    `SELECT json_agg(k ORDER BY k.id)::text AS keys FROM auth.keys k JOIN auth.providers p ON p.id = k.provider_id WHERE p.name = $1`, [name]);
  return rows[0].keys;
}

async function register(name: string, server: JwksServer, body: unknown): Promise<void> {
  server.set(`/${name}/jwks.json`, { kind: 'json', body, maxAge: 600 });
  const added = await run(['provider', 'add', name, '--jwks-url', server.url(`/${name}/jwks.json`), '--issuer', `https://${name}.test`, '--audience', 'api']);
  expect(added.code, added.stderr).toBe(0);
}

describe('redirects are followed only to https', () => {
  it('the rule: https anywhere; plain http only from loopback http to loopback', () => {
    const from = new URL('https://idp.example/jwks');
    expect(checkRedirect(from, '/v2/jwks').href).toBe('https://idp.example/v2/jwks');
    expect(checkRedirect(from, 'https://cdn.example/jwks').host).toBe('cdn.example');
    expect(() => checkRedirect(from, 'http://idp.example/jwks')).toThrow(/redirect to http:\/\/idp.example\/jwks refused: redirects are followed only to https/);
    expect(() => checkRedirect(from, 'http://127.0.0.1/jwks')).toThrow(/refused/);
    expect(() => checkRedirect(new URL('http://127.0.0.1:1/a'), 'http://idp.example/jwks')).toThrow(/refused/);
    expect(checkRedirect(new URL('http://127.0.0.1:1/a'), 'http://localhost:2/b').href).toBe('http://localhost:2/b');
    expect(() => checkRedirect(from, 'file:///etc/passwd')).toThrow(/refused/);
  });

  it('an https JWKS URL redirecting to plain http on another host is refused, even with allow_http; the keys stay', async () => {
    const key = servedKey('red1');
    await register('red', tls, jwks(key));
    const before = await keySnapshot('red');
    const attacker = servedKey('attacker');
    elsewhere.set('/keys', { kind: 'json', body: jwks(attacker), maxAge: 600 });
    plain.set('/keys', { kind: 'json', body: jwks(attacker), maxAge: 600 });

    // downgrade to plain http on another host, with the provider allowed plain http for its own URL
    await db.pool.query("UPDATE auth.providers SET allow_http = true WHERE name = 'red'");
    tls.set('/red/jwks.json', { kind: 'redirect', location: elsewhere.url('/keys') });
    const refused = await run(['sync-jwks', '--provider', 'red']);
    expectOneLineError(refused, 1, /red \(https:\/\/127\.0\.0\.1:\d+\/red\/jwks\.json: redirect to http:\/\/127\.0\.0\.2:\d+\/keys refused: redirects are followed only to https\)/);
    // downgrade to plain http on loopback
    tls.set('/red/jwks.json', { kind: 'redirect', location: plain.url('/keys'), status: 301 });
    expectOneLineError(await run(['sync-jwks', '--provider', 'red']), 1, /redirect to http:\/\/127\.0\.0\.1:\d+\/keys refused/);
    expect(elsewhere.count('/keys') + plain.count('/keys')).toBe(0);
    expect(await keySnapshot('red')).toBe(before);

    // https to https is followed
    const next = servedKey('red2');
    tls.set('/red/v2/jwks.json', { kind: 'json', body: jwks(key, next), maxAge: 600 });
    tls.set('/red/jwks.json', { kind: 'redirect', location: '/red/v2/jwks.json', status: 308 });
    const followed = await run(['sync-jwks', '--provider', 'red', '--json']);
    expect(followed.code, followed.stderr).toBe(0);
    expect(jsonOutput(followed)).toMatchObject({ ok: true, providers: [{ provider: 'red', added: 1, unchanged: 1 }] });
  });
});

describe("a key set over the provider's limits fails as a whole", () => {
  it('max_keys: usable keys counted as the database counts them, retired keys in their grace period included', async () => {
    const k1 = servedKey('lim1');
    await register('lim', plain, jwks(k1));
    await db.pool.query("UPDATE auth.providers SET max_keys = 2 WHERE name = 'lim'");
    const before = await keySnapshot('lim');
    plain.set('/lim/jwks.json', { kind: 'json', body: jwks(k1, servedKey('lim2'), servedKey('lim3')), maxAge: 600 });
    const result = await run(['sync-jwks', '--provider', 'lim']);
    expectOneLineError(result, 1, /^authdb: 1 of 1 provider\(s\) failed: lim \(the set has 3 usable keys, over provider lim's max_keys \(2\); the keys stay as they were \(authdb provider update lim --max-keys N raises it\)\)$/m);
    expect(await keySnapshot('lim')).toBe(before);
    const { rows } = await db.pool.query("SELECT last_error FROM auth.providers WHERE name = 'lim'");
    expect(rows[0].last_error).toMatch(/max_keys \(2\)/);

    // a rotation that fits is applied: k1 retired (it verifies for an hour), k4 added
    const k4 = servedKey('lim4');
    plain.set('/lim/jwks.json', { kind: 'json', body: jwks(k4), maxAge: 600 });
    const rotated = await run(['sync-jwks', '--provider', 'lim', '--json']);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(jsonOutput(rotated)).toMatchObject({ providers: [{ added: 1, retired: 1 }] });
    // the next one does not fit while k1's grace period runs
    const rotatedBefore = await keySnapshot('lim');
    plain.set('/lim/jwks.json', { kind: 'json', body: jwks(servedKey('lim5')), maxAge: 600 });
    expectOneLineError(await run(['sync-jwks', '--provider', 'lim']), 1,
      /the set has 1 usable keys and 2 earlier key\(s\) still verify \(static, or retired within their grace period\), over provider lim's max_keys \(2\)/);
    expect(await keySnapshot('lim')).toBe(rotatedBefore);
  });

  it('max_rsa_bits: a 3072-bit key beside a 2048-bit one where 2048 bits is the limit', async () => {
    const small = servedKey('bits1', 'RS256');
    await register('bits', plain, jwks(small));
    await db.pool.query("UPDATE auth.providers SET max_rsa_bits = 2048 WHERE name = 'bits'");
    const before = await keySnapshot('bits');
    const { newKeyPairSync } = await import('../src/key-pair.js');
    const big = { ...(newKeyPairSync('rsa', { modulusLength: 3072 }).publicKey.export({ format: 'jwk' }) as object), kid: 'bits2', alg: 'RS256' };
    plain.set('/bits/jwks.json', { kind: 'json', body: jwks(small, big), maxAge: 600 });
    const result = await run(['sync-jwks', '--provider', 'bits', '--json']);
    expectOneLineError(result, 1, /bits \(key bits2 is a 3072-bit RSA key, over provider bits's max_rsa_bits \(2048\); the keys stay as they were \(authdb provider update bits --max-rsa-bits N raises it\)\)/);
    expect(jsonOutput(result)).toMatchObject({ ok: false });
    expect(await keySnapshot('bits')).toBe(before);
  });
});
