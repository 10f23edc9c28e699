// `authdb dev`: a persistent embedded cluster, the dev issuer, the sample table, tokens.
import { existsSync } from 'node:fs';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintDevToken, startDev, withAuth, type DevEnvironment } from '../src/index.js';
import { freePort } from '../src/embedded.js';
import { authdb, expectOneLineError, firstJson, jsonOutput, startAuthdb } from './support/cli.js';
let dir: string;
let port: number;
let env: DevEnvironment | undefined;

/**
 * Runs fn as the token's user on a fresh connection, closed before returning. (A pg.Pool resolves
 * end() before its sockets close, and the server stopping next would then raise on them.)
 */
async function asUser<T>(databaseUrl: string, token: string, fn: (client: pg.ClientBase) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return await withAuth(client, token, fn);
  } finally {
    await client.end();
  }
}

const titlesFor = (databaseUrl: string, token: string): Promise<string[]> =>
  asUser(databaseUrl, token, async (client) => (await client.query('SELECT title FROM todos ORDER BY id')).rows.map((r) => r.title));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'authdb-dev-test-'));
  port = await freePort();
});
afterAll(async () => {
  await env?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('authdb dev', () => {
  it('starts, migrates, registers the dev issuer and a sample table each user sees their own part of', async () => {
    const lines: string[] = [];
    env = await startDev({ dir, port, onProgress: (line) => lines.push(line) });
    expect(lines.some((line) => line.startsWith('initialising a new Postgres cluster'))).toBe(true);
    expect(lines).toContain('creating the sample table todos (owner-only rows)');
    expect(await titlesFor(env.databaseUrl, await env.mint({ sub: 'alice' }))).toEqual(['try authdb dev', 'write a policy']);
    expect(await titlesFor(env.databaseUrl, await env.mint({ sub: 'bob' }))).toEqual(['read the quick start']);
    // the key file is private to its owner
    expect(statSync(env.keyFile).mode & 0o077).toBe(0);
  });

  it('mints tokens from the key file alone (no server needed), with typed extra claims', async () => {
    const claims = { tenant_id: 'acme', roles: ['admin'], level: 3, sub: 'carol' };
    const token = await mintDevToken({ dir, claims, expiresInSeconds: 60 });
    const seen = await asUser(env!.databaseUrl, token, async (client) => (await client.query('SELECT auth.session() AS s')).rows[0].s);
    expect(seen).toMatchObject({ sub: 'carol', tenant_id: 'acme', roles: ['admin'], level: 3, iss: 'https://authdb.dev.localhost' });
    await expect(mintDevToken({ dir: join(dir, 'missing'), claims: { sub: 'x' } })).rejects.toThrow(/run `authdb dev` first/);
  });

  it('keeps data between runs, and does not re-initialise', async () => {
    await asUser(env!.databaseUrl, await env!.mint({ sub: 'alice' }), (c) => c.query("INSERT INTO todos (title) VALUES ('persisted')"));
    await env!.stop();
    const lines: string[] = [];
    env = await startDev({ dir, port, onProgress: (line) => lines.push(line) });
    expect(lines.some((line) => line.startsWith('initialising'))).toBe(false);
    expect(lines.some((line) => line.startsWith('registering'))).toBe(false);
    expect(await titlesFor(env.databaseUrl, await env.mint({ sub: 'alice' }))).toContain('persisted');
  });

  it('`authdb dev token` prints a token, or fails with one line and exit 1 when there is no key', async () => {
    const ok = await authdb(['dev', 'token', '--dir', dir, '--sub', 'dave', '--claim', 'tenant_id=acme', '--json']);
    expect(ok.code).toBe(0);
    const { token } = jsonOutput<{ token: string }>(ok);
    expect(await asUser(env!.databaseUrl, token, async (c) => (await c.query('SELECT auth.user_id() AS sub')).rows[0].sub)).toBe('dave');
    const missing = await authdb(['dev', 'token', '--dir', join(dir, 'nothing-here')]);
    expectOneLineError(missing, 1);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toBe(`authdb: no dev issuer key in ${join(dir, 'nothing-here')}: run \`authdb dev\` first (or pass --dir)\n`);
  });

  it('`authdb dev sql --as` finds the running dev server by its --port and runs SQL as that user', async () => {
    const alice = await authdb(['dev', '--dir', dir, '--port', String(port), 'sql', '--as', 'alice', '--json', 'select title from todos order by id']);
    expect(alice.code, alice.stderr).toBe(0);
    expect(jsonOutput<{ results: { rows: { title: string }[] }[] }>(alice).results[0]!.rows.map((r) => r.title)).toContain('try authdb dev');
    const bob = await authdb(['dev', '--dir', dir, '--port', String(port), 'sql', '--as', 'bob', 'select title from todos']);
    expect(bob.stdout).toBe('title\n--------------------\nread the quick start\n(1 row)\n');
  });

  it('`authdb dev` fails with exit 1 and a clear line when the port is taken', async () => {
    const busy = await authdb(['dev', '--dir', join(dir, 'second'), '--port', String(port)]);
    expect(busy.code).toBe(1);
    // progress lines come first; the failure is the last line, alone
    expect(busy.stderr.trimEnd().split('\n').at(-1)).toMatch(/^authdb: could not start Postgres on 127\.0\.0\.1:\d+ .*try --port/);
    expect(busy.stderr).not.toMatch(/^\s+at /m);
  });

  it('`authdb --schema authdb dev` installs into schema authdb: the sample table and tokens work through authdb.user_id()', async () => {
    const cliDir = join(dir, 'cli-schema');
    const run = startAuthdb(['--schema', 'authdb', 'dev', '--dir', cliDir, '--port', String(await freePort()), '--json'], { timeoutMs: 0 });
    try {
      const output = await firstJson<{ databaseUrl: string; tokens: Record<string, string> }>(run);
      const client = new pg.Client({ connectionString: output.databaseUrl });
      await client.connect();
      try {
        const { rows } = await client.query(
          "SELECT pg_catalog.to_regnamespace('authdb') IS NOT NULL AS authdb, pg_catalog.to_regnamespace('auth') IS NOT NULL AS auth");
        expect(rows[0]).toEqual({ authdb: true, auth: false });
        await client.query('BEGIN');
        await client.query('SET LOCAL ROLE authenticated');
        await client.query('SELECT authdb.init($1)', [output.tokens.alice]);
        const titles = await client.query('SELECT title FROM todos ORDER BY id');
        expect(titles.rows.map((row) => row.title)).toEqual(['try authdb dev', 'write a policy']);
        await client.query('ROLLBACK');
      } finally {
        await client.end();
      }
    } finally {
      run.kill('SIGINT');
      expect((await run.done).code).toBe(0);
    }
  });

  it('`authdb dev` prints tokens for alice and bob, and Ctrl-C stops Postgres cleanly with exit 0', async () => {
    const cliDir = join(dir, 'cli');
    const run = startAuthdb(['dev', '--dir', cliDir, '--port', String(await freePort()), '--json'], { timeoutMs: 0 });
    const output = await firstJson<{ databaseUrl: string; tokens: Record<string, string> }>(run);
    expect(Object.keys(output.tokens)).toEqual(['alice', 'bob']);
    expect(await titlesFor(output.databaseUrl, output.tokens.bob!)).toEqual(['read the quick start']);
    expect(run.stderrSoFar()).toContain('initialising a new Postgres cluster');
    expect(existsSync(join(cliDir, 'data', 'postmaster.pid'))).toBe(true);
    run.kill('SIGINT');
    const result = await run.done;
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('stopping Postgres');
    expect(existsSync(join(cliDir, 'data', 'postmaster.pid'))).toBe(false); // a clean shutdown removes it
  });
});
