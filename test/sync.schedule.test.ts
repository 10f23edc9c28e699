// The refresh schedule (a key a provider publishes verifies within a minute, without hammering the
// provider) and `sync-jwks --watch`, against a real JWKS server on 127.0.0.1 and a real Postgres;
// CLI behaviour through the built binary.
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { retryAfterSeconds } from '../src/jwks/fetch.js';
import { failureBackoffSeconds, refreshAfterSeconds } from '../src/jwks/keyset.js';
import { addProvider, type AddProviderOptions } from '../src/providers/add.js';
import { getProvider } from '../src/sync/state.js';
import { syncProvider } from '../src/sync.js';
import { authdb, expectOneLineError, jsonOutput, startAuthdb } from './support/cli.js';
import { createTestDatabase, type TestDatabase, withPoolClient } from './support/db.js';
import { closeJwksFixture, FAST_FETCH, jwks, type JwksServer, openJwksFixture, servedKey, type ServedKey } from './support/jwks-server.js';

let db: TestDatabase;
let server: JwksServer;
let counter = 0;

beforeAll(async () => ({ db, server } = await openJwksFixture()));
afterAll(async () => closeJwksFixture({ db, server }));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const withClient = <T>(target: TestDatabase, work: (client: pg.PoolClient) => Promise<T>): Promise<T> =>
  withPoolClient(target.pool, work);

/** A provider served at its own path with `key`, registered (and synced once) through the library. */
async function newProvider(key: ServedKey, options: Partial<AddProviderOptions> & { target?: TestDatabase; maxAge?: number } = {}) {
  counter += 1;
  const name = `s${counter}`;
  const path = `/${name}/jwks.json`;
  const issuer = `https://${name}.test`;
  const { target = db, maxAge = 600, ...rest } = options;
  server.set(path, { kind: 'json', body: jwks(key), etag: `"${name}-1"`, maxAge });
  await withClient(target, (client) => addProvider(client, { name, issuer, jwksUrl: server.url(path), audiences: ['api'], fetch: FAST_FETCH, ...rest }));
  return { name, path, issuer };
}

const sync = (name: string, force = false) =>
  withClient(db, async (client) => syncProvider(client, await getProvider(client, name), { force, fetch: FAST_FETCH }));

async function dueIn(name: string, target = db): Promise<number> {
  const { rows } = await target.pool.query(
    'SELECT extract(epoch FROM next_refresh_at - now())::float8 AS s FROM auth.providers WHERE name = $1', [name]);
  return rows[0].s;
}

/** Every stored byte of a provider's keys: the key rows and their precomputed material. */
async function keySnapshot(name: string): Promise<string> {
  const { rows } = await db.pool.query(
    `WITH k AS (SELECT k.* FROM auth.keys k JOIN auth.providers p ON p.id = k.provider_id WHERE p.name = $1)
     SELECT json_build_object(
       'keys', (SELECT json_agg(k ORDER BY k.id) FROM k),
       'rsa', (SELECT json_agg(r ORDER BY r.key_id) FROM auth.rsa_keys r WHERE r.key_id IN (SELECT id FROM k)),
       'ec', (SELECT json_agg(e ORDER BY e.key_id) FROM auth.ec_keys e WHERE e.key_id IN (SELECT id FROM k)),
       'okp', (SELECT json_agg(o ORDER BY o.key_id) FROM auth.okp_keys o WHERE o.key_id IN (SELECT id FROM k)))::text AS snapshot`,
    [name],
  );
  return rows[0].snapshot;
}

async function verifies(token: string, target = db): Promise<string> {
  try {
    const { rows } = await target.pool.query('SELECT auth.verify($1) ->> $2 AS sub', [token, 'sub']);
    return rows[0].sub;
  } catch (error) {
    return (error as Error).message;
  }
}

describe('the schedule', () => {
  it('intervals: clamped to [30 s, 60 s] by default, only ever shortened by the jitter; failures back off; Retry-After is honoured', () => {
    const [lowest, highest] = [() => 0.999999, () => 0];
    expect(refreshAfterSeconds(86400, 30, 60, highest)).toBe(60);
    expect(refreshAfterSeconds(86400, 30, 60, lowest)).toBeCloseTo(54, 3);
    expect(refreshAfterSeconds(null, 30, 60, highest)).toBe(60); // no caching headers: refresh-max
    expect(refreshAfterSeconds(45, 30, 60, highest)).toBe(45);
    expect(refreshAfterSeconds(0, 30, 60, highest)).toBe(30); // no-cache: refresh-min
    expect([1, 2, 3, 4, 5, 6, 30].map((n) => failureBackoffSeconds(n, 30, null, highest))).toEqual([30, 60, 120, 240, 480, 600, 600]);
    expect(failureBackoffSeconds(1, 30, 120, highest)).toBe(120);
    expect(failureBackoffSeconds(6, 30, 5, lowest)).toBeCloseTo(540, 3);
    expect(failureBackoffSeconds(1, 7200, null, highest)).toBe(7200); // a refresh-min over the cap wins
    expect(retryAfterSeconds('120')).toBe(120);
    expect(retryAfterSeconds('999999')).toBe(3600); // capped: a provider cannot switch its refresh off
    expect(retryAfterSeconds(new Date(Date.now() + 90_000).toUTCString())).toBeGreaterThanOrEqual(89);
    expect(retryAfterSeconds('soon')).toBeNull();
    expect(retryAfterSeconds(undefined)).toBeNull();
  });

  it('revalidates within 60 s by default whatever the max-age; a shorter max-age and no-cache are honoured down to 30 s', async () => {
    const key = servedKey('sched');
    const { name, path } = await newProvider(key, { maxAge: 86400 });
    expect(await dueIn(name)).toBeGreaterThan(60 * 0.9 - 2);
    expect(await dueIn(name)).toBeLessThanOrEqual(60);
    server.set(path, { kind: 'json', body: jwks(key), maxAge: 40 });
    await sync(name, true);
    expect(await dueIn(name)).toBeGreaterThan(40 * 0.9 - 2);
    expect(await dueIn(name)).toBeLessThanOrEqual(40);
    server.set(path, { kind: 'raw', body: JSON.stringify(jwks(key)), headers: { 'content-type': 'application/json', 'cache-control': 'no-cache' } });
    await sync(name, true);
    expect(await dueIn(name)).toBeGreaterThan(30 * 0.9 - 2);
    expect(await dueIn(name)).toBeLessThanOrEqual(30);
    // Age spent in a cache counts against max-age (RFC 9111 §4.2.3)
    server.set(path, { kind: 'raw', body: JSON.stringify(jwks(key)), headers: { 'content-type': 'application/json', 'cache-control': 'max-age=50', age: '15' } });
    await sync(name, true);
    expect(await dueIn(name)).toBeLessThanOrEqual(35);
  });

  it('a cron run every minute finds the provider due, a few seconds early included, and registers a newly published key', async () => {
    const k1 = servedKey('cron1');
    const { name, path, issuer } = await newProvider(k1, { maxAge: 600 });
    const k2 = servedKey('cron2');
    const t2 = await k2.sign({ iss: issuer, aud: 'api' });
    expect(await verifies(t2)).toBe('jwt rejected: unknown_key');

    // right after a sync, the provider is not due: no request
    const seen = server.count(path);
    const early = await authdb(['sync-jwks', '--json', '--database-url', db.url]);
    expect(early.code, early.stderr).toBe(0);
    expect(jsonOutput<{ providers: { provider: string }[] }>(early).providers.map((p) => p.provider)).not.toContain(name);
    expect(server.count(path)).toBe(seen);

    // the provider publishes k2 (before signing with it); the next minute's cron run comes 3 s
    // before the scheduled time, and still takes the provider
    server.set(path, { kind: 'json', body: jwks(k1, k2), etag: '"cron-2"', maxAge: 600 });
    await db.pool.query("UPDATE auth.providers SET next_refresh_at = now() + interval '3 seconds' WHERE name = $1", [name]);
    const run = await authdb(['sync-jwks', '--database-url', db.url]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^${name}: 1 added, 0 retired, 0 restored, 0 replaced, 1 unchanged in \\d+ ms; next refresh `, 'm'));
    expect(server.count(path)).toBe(seen + 1);
    expect(await verifies(t2)).toBe('alice');
    // and it is due again by the following minute
    expect(await dueIn(name)).toBeLessThanOrEqual(60);
  });

  it('a 304 changes nothing: the keys stay byte-identical and the validators are kept', async () => {
    const key = servedKey('nm', 'RS256');
    const { name, path } = await newProvider(key);
    const before = await keySnapshot(name);
    const seen = server.requests.length;
    const result = await sync(name);
    expect(result).toMatchObject({ ok: true, outcome: 'not_modified', added: 0, retired: 0, unchanged: 1 });
    const sent = server.requests.slice(seen).filter((r) => r.path === path);
    expect(sent.map((r) => r.ifNoneMatch)).toEqual([`"${name}-1"`]);
    expect(await keySnapshot(name)).toBe(before);
    const { rows } = await db.pool.query('SELECT etag, sync_failures, last_synced_at > now() - interval \'5 seconds\' AS fresh FROM auth.providers WHERE name = $1', [name]);
    expect(rows[0]).toEqual({ etag: `"${name}-1"`, sync_failures: 0, fresh: true });
    expect(await dueIn(name)).toBeLessThanOrEqual(60);
  });

  it('429 and 503 with Retry-After: one request, the next attempt after Retry-After; failures back off; a success resets them', async () => {
    const key = servedKey('ra');
    const { name, path, issuer } = await newProvider(key);
    const before = await keySnapshot(name);
    const failures = async () => (await db.pool.query('SELECT sync_failures FROM auth.providers WHERE name = $1', [name])).rows[0].sync_failures;

    let seen = server.count(path);
    server.set(path, { kind: 'raw', status: 429, body: 'slow down', headers: { 'retry-after': '120' } });
    let result = await sync(name);
    expect(result.error).toMatch(/HTTP 429 \(Retry-After 120 s\)$/);
    expect(server.count(path) - seen).toBe(1); // not retried at once
    expect(await dueIn(name)).toBeGreaterThan(117);
    expect(await dueIn(name)).toBeLessThanOrEqual(120);

    seen = server.count(path);
    server.set(path, { kind: 'raw', status: 503, body: 'maintenance', headers: { 'retry-after': new Date(Date.now() + 90_000).toUTCString() } });
    result = await sync(name);
    expect(result.error).toMatch(/HTTP 503 \(Retry-After (89|90) s\)$/);
    expect(server.count(path) - seen).toBe(1);
    expect(await dueIn(name)).toBeGreaterThan(86);
    expect(await dueIn(name)).toBeLessThanOrEqual(90);

    // a 429 without Retry-After is not retried at once either; the third failure in a row waits 4 × 30 s
    seen = server.count(path);
    server.set(path, { kind: 'status', status: 429 });
    result = await sync(name);
    expect(server.count(path) - seen).toBe(1);
    expect(await failures()).toBe(3);
    expect(await dueIn(name)).toBeGreaterThan(120 * 0.9 - 2);
    expect(await dueIn(name)).toBeLessThanOrEqual(120);

    // a 500 is retried at once (2 retries), then waits 8 × 30 s
    seen = server.count(path);
    server.set(path, { kind: 'status', status: 500 });
    result = await sync(name);
    expect(server.count(path) - seen).toBe(3);
    expect(await dueIn(name)).toBeGreaterThan(240 * 0.9 - 2);
    expect(await dueIn(name)).toBeLessThanOrEqual(240);

    expect(await keySnapshot(name)).toBe(before);
    expect(await verifies(await key.sign({ iss: issuer, aud: 'api' }))).toBe('alice');
    server.set(path, { kind: 'json', body: jwks(key), maxAge: 600 });
    expect(await sync(name)).toMatchObject({ ok: true });
    expect(await failures()).toBe(0);
    expect(await dueIn(name)).toBeLessThanOrEqual(60);
  });
});

async function until(condition: () => Promise<boolean> | boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await sleep(50);
  }
  return condition();
}

describe('sync-jwks --watch (the built binary)', () => {
  it('runs its rounds without an error line, registers a newly published key within the interval, keeps requests bounded, and exits 0 on SIGTERM', async () => {
    // Its own database: the watch takes every provider that is due.
    const own = await createTestDatabase();
    try {
      const k1 = servedKey('watch1');
      // The default schedule at a 30th of the scale: revalidate every 2 s at most, 1 s at least.
      const { name, path, issuer } = await newProvider(k1, { target: own, refreshMinSeconds: 1, refreshMaxSeconds: 2 });
      const first = server.count(path);
      const watch = startAuthdb(['sync-jwks', '--watch', '--database-url', own.url]);
      const started = Date.now();
      expect(await until(() => server.count(path) >= first + 2, 15_000)).toBe(true); // two rounds went by

      const k2 = servedKey('watch2');
      server.set(path, { kind: 'json', body: jwks(k1, k2), etag: '"watch-2"', maxAge: 600 });
      const published = Date.now();
      const countAtPublication = server.count(path);
      const registered = await until(async () => {
        const { rows } = await own.pool.query("SELECT 1 FROM auth.keys WHERE kid = 'watch2' AND status = 'active'");
        return rows.length === 1;
      }, 15_000);
      const latency = Date.now() - published;
      const roundsToRegister = server.count(path) - countAtPublication;
      expect(registered).toBe(true);
      // the next round took it (before the fix, the loop slept its 60 s cap instead)
      expect(roundsToRegister).toBeGreaterThanOrEqual(1);
      expect(roundsToRegister).toBeLessThanOrEqual(2);
      expect(latency).toBeLessThan(2000 + 4000); // one interval, plus a fetch and a transaction on a busy machine
      expect(await verifies(await k2.sign({ iss: issuer, aud: 'api' }), own)).toBe('alice');

      await sleep(3000);
      watch.kill('SIGTERM');
      const result = await watch.done;
      const elapsed = (Date.now() - started) / 1000;
      const requests = server.count(path) - first;
      // at most one every 1.8 s (2 s less the jitter), plus the round at start-up
      expect(requests).toBeLessThanOrEqual(Math.ceil(elapsed / 1.8) + 1);

      expect(result.code, result.stderr).toBe(0);
      const errors = result.stderr.split('\n').filter((line) => line && !/^watching providers|^stopped after \d+ round/.test(line));
      expect(errors).toEqual([]);
      const lines = result.stdout.trim().split('\n');
      expect(lines.some((line) => line.startsWith(`${name}: 1 added`))).toBe(true);
      expect(lines.filter((line) => line.startsWith(`${name}: not modified`)).length).toBeGreaterThanOrEqual(1);
    } finally {
      await own.drop();
    }
  });

  it('a slow fetch prints a progress line per attempt and each retry on stderr; none with --json', async () => {
    const key = servedKey('slow');
    const { name, path } = await newProvider(key);
    server.set(path, { kind: 'hang' });
    const human = await authdb(['sync-jwks', '--provider', name, '--timeout', '1', '--database-url', db.url]);
    expect(human.code).toBe(1);
    const lines = human.stderr.trimEnd().split('\n');
    const shown = `${name}: ${server.url(path)}`;
    expect(lines.filter((line) => line.startsWith(`${shown}: attempt `) && /: no answer after 0\.5 s \(giving up at 1\.0 s\)$/.test(line))).toHaveLength(3);
    expect(lines.filter((line) => line.startsWith(`${shown}: attempt `) && /failed \(no complete response within 1000 ms\); retrying in \d+ ms$/.test(line))).toHaveLength(2);
    expect(lines.at(-1)).toMatch(/^authdb: 1 of 1 provider\(s\) failed: /);

    const json = await authdb(['sync-jwks', '--provider', name, '--timeout', '1', '--json', '--database-url', db.url]);
    expectOneLineError(json, 1, /1 of 1 provider\(s\) failed/);
    expect(jsonOutput<{ ok: boolean }>(json).ok).toBe(false);
  });
});
