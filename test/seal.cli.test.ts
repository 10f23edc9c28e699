// `authdb seal rotate`, through the built binary: rotation, its JSON, and who may run it.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authdb, expectOneLineError, jsonOutput } from './support/cli.js';
import { createTestDatabase, dropRoles, type TestDatabase } from './support/db.js';
import { TestIssuer } from './support/tokens.js';

let db: TestDatabase;
let issuer: TestIssuer;
const OTHER = `authdb_other_${randomBytes(4).toString('hex')}`;
const PASSWORD = randomBytes(12).toString('hex');

beforeAll(async () => {
  db = await createTestDatabase();
  issuer = await TestIssuer.create(db.pool, 'idp');
  await db.pool.query(`CREATE ROLE ${OTHER} LOGIN PASSWORD '${PASSWORD}'`);
});
afterAll(async () => {
  await db?.drop();
  await dropRoles(OTHER);
});

const generation = async () => Number((await db.pool.query('SELECT generation FROM auth.seal_secret')).rows[0].generation);

describe('authdb seal rotate', () => {
  it('--json: a new secret, one generation on; identities sealed before read as none', async () => {
    const client = await db.pool.connect();
    try {
      await client.query(`SELECT auth.init($1, 'session')`, [await issuer.hs256({ sub: 'alice' })]);
      expect((await client.query('SELECT auth.user_id() AS sub')).rows[0].sub).toBe('alice');
      const before = await generation();
      const secretBefore = (await db.pool.query('SELECT ipad_key FROM auth.seal_secret')).rows[0].ipad_key as Buffer;
      const result = await authdb(['seal', 'rotate', '--json', '--database-url', db.url]);
      expect(result.code, result.stderr).toBe(0);
      const out = jsonOutput<{ rotated: boolean; generation: number; rotatedAt: string }>(result);
      expect(out.rotated).toBe(true);
      expect(out.generation).toBe(before + 1);
      expect(Number.isNaN(Date.parse(out.rotatedAt))).toBe(false);
      expect(await generation()).toBe(before + 1);
      const secretAfter = (await db.pool.query('SELECT ipad_key FROM auth.seal_secret')).rows[0].ipad_key as Buffer;
      expect(secretAfter.equals(secretBefore)).toBe(false);
      // nothing secret is printed
      expect(result.stdout + result.stderr).not.toContain(secretAfter.toString('hex').slice(0, 16));
      expect((await client.query('SELECT auth.user_id() AS sub')).rows[0].sub).toBeNull();
    } finally {
      await client.query('SELECT auth.reset()');
      client.release();
    }
  });

  it('prints one line for people', async () => {
    const result = await authdb(['seal', 'rotate', '--database-url', db.url]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^sealing secret rotated \(generation \d+\)/);
    expect(result.stdout.trimEnd().split('\n')).toHaveLength(1);
  });

  it('refuses a login that does not own the auth schema, with one line and no change', async () => {
    const before = await generation();
    const url = new URL(db.url);
    url.username = OTHER;
    url.password = PASSWORD;
    const result = await authdb(['seal', 'rotate', '--database-url', url.toString()]);
    expectOneLineError(result, 1, /only the owner of the auth schema may rotate the sealing secret/);
    expect(await generation()).toBe(before);
  });

  it('--help teaches when and why to rotate', async () => {
    const result = await authdb(['seal', 'rotate', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/dump/);
    expect(result.stdout).toMatch(/authdb seal rotate --json/);
  });
});
