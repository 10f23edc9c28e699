// Subjects across providers (design, "Subjects across providers"): a token of a second provider
// with sub=alice must not read alice's rows through the policy templates, unless the DBA registered
// that provider with shared subjects.
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { TestIssuer } from './support/tokens.js';

let db: TestDatabase;
let first: TestIssuer;
let second: TestIssuer;
const ALICE_UUID = '0b7e8a52-9a3c-4f7e-8f1e-2a6c5d4e3f21';

beforeAll(async () => {
  db = await createTestDatabase();
  first = await TestIssuer.create(db.pool, 'first');
  second = await TestIssuer.create(db.pool, 'second');
  await db.pool.query(`UPDATE auth.providers SET subject_prefix = 'second:' WHERE name = 'second'`);
  await db.pool.query(`
    CREATE TABLE notes (id serial PRIMARY KEY, user_id text NOT NULL, body text);
    INSERT INTO notes (user_id, body) VALUES ('alice', 'alice''s note'), ('second:alice', 'second''s alice note');
    SELECT auth.policy_owner('notes');
    CREATE TABLE profiles (user_id uuid NOT NULL, body text);
    INSERT INTO profiles VALUES ('${ALICE_UUID}', 'alice''s profile');
    SELECT auth.policy_owner('profiles');
    CREATE TABLE projects (tenant_id text NOT NULL, name text);
    INSERT INTO projects VALUES ('acme', 'rocket'), ('second:acme', 'other rocket');
    SELECT auth.policy_tenant('projects');
    CREATE TABLE accounts (org uuid NOT NULL, name text);
    INSERT INTO accounts VALUES ('${ALICE_UUID}', 'alice''s org');
    SELECT auth.policy_tenant('accounts', 'org', 'org');
    CREATE TABLE audit_log (id int, entry text);
    INSERT INTO audit_log VALUES (1, 'login');
    SELECT auth.policy_claim('audit_log', 'roles', 'admin', ARRAY['select']);
    CREATE TABLE second_audit (id int, entry text);
    INSERT INTO second_audit VALUES (1, 'second login');
    SELECT auth.policy_claim('second_audit', 'roles', 'second:admin', ARRAY['select']);`);
});
afterAll(async () => db?.drop());

const claims = { sub: 'alice', tenant_id: 'acme', org: ALICE_UUID, roles: ['admin'] };

/** What the token's user sees of every table, twice in one backend: a fresh verification, then a cache hit. */
async function view(token: string) {
  const client = await db.pool.connect();
  try {
    const runs = [];
    for (let i = 0; i < 2; i++) {
      await client.query('BEGIN');
      await client.query('SET LOCAL ROLE authenticated');
      await client.query('SELECT auth.init($1)', [token]);
      const q = async (sql: string) => (await client.query(sql)).rows.map((row: Record<string, unknown>) => Object.values(row)[0]);
      runs.push({
        who: (await client.query(`SELECT auth.user_id() AS user_id, auth.uid() AS uid, auth.issuer() AS issuer, auth.session() ->> 'sub' AS raw_sub`)).rows[0],
        notes: await q('SELECT body FROM notes ORDER BY 1'),
        profiles: await q('SELECT body FROM profiles'),
        projects: await q('SELECT name FROM projects ORDER BY 1'),
        accounts: await q('SELECT name FROM accounts'),
        audit: await q('SELECT entry FROM audit_log'),
        secondAudit: await q('SELECT entry FROM second_audit'),
      });
      await client.query('COMMIT');
    }
    expect(runs[1]).toEqual(runs[0]);
    return runs[0]!;
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    client.release();
  }
}

async function tokenOf(issuer: TestIssuer, sub: string) {
  return issuer.hs256({ ...claims, sub });
}

describe('a prefixed second provider', () => {
  it('its sub=alice is not alice: no owner, tenant or claim policy lets it read the first provider\'s rows', async () => {
    const seen = await view(await tokenOf(second, 'alice'));
    expect(seen.who).toEqual({ user_id: 'second:alice', uid: null, issuer: second.issuer, raw_sub: 'alice' });
    expect(seen.notes).toEqual(["second's alice note"]);
    expect(seen.projects).toEqual(['other rocket']);
    expect(seen.audit).toEqual([]);
    expect(seen.secondAudit).toEqual(['second login']);
  });

  it('a uuid sub of a prefixed provider is no uuid identity (auth.uid() is NULL, typed columns match nothing)', async () => {
    const seen = await view(await tokenOf(second, ALICE_UUID));
    expect(seen.who.uid).toBeNull();
    expect(seen.who.user_id).toBe(`second:${ALICE_UUID}`);
    expect(seen.profiles).toEqual([]);
    expect(seen.accounts).toEqual([]);
  });

  it('the first provider\'s alice keeps her rows', async () => {
    const seen = await view(await tokenOf(first, 'alice'));
    expect(seen.who).toEqual({ user_id: 'alice', uid: null, issuer: first.issuer, raw_sub: 'alice' });
    expect(seen.notes).toEqual(["alice's note"]);
    expect(seen.projects).toEqual(['rocket']);
    expect(seen.audit).toEqual(['login']);
    expect(seen.secondAudit).toEqual([]);
    const byUuid = await view(await tokenOf(first, ALICE_UUID));
    expect(byUuid.who.uid).toBe(ALICE_UUID);
    expect(byUuid.profiles).toEqual(["alice's profile"]);
    expect(byUuid.accounts).toEqual(["alice's org"]);
  });
});

describe('a provider registered with shared subjects (subject_prefix NULL)', () => {
  it('is the DBA\'s explicit statement that both issuers name the same users: its alice is alice', async () => {
    await db.pool.query(`UPDATE auth.providers SET subject_prefix = NULL WHERE name = 'second'`);
    try {
      const seen = await view(await tokenOf(second, 'alice'));
      expect(seen.who).toEqual({ user_id: 'alice', uid: null, issuer: second.issuer, raw_sub: 'alice' });
      expect(seen.notes).toEqual(["alice's note"]);
      expect(seen.projects).toEqual(['rocket']);
      expect(seen.audit).toEqual(['login']);
    } finally {
      await db.pool.query(`UPDATE auth.providers SET subject_prefix = 'second:' WHERE name = 'second'`);
    }
  });
});

describe('the prefix is sealed with the identity', () => {
  it('editing it in the setting raises', async () => {
    const client: pg.PoolClient = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SET LOCAL ROLE authenticated');
      await client.query('SELECT auth.init($1)', [await tokenOf(second, 'alice')]);
      const value = (await client.query(`SELECT current_setting('authdb.identity') AS v`)).rows[0].v as string;
      expect(value).toContain('|second:alice|second:|{');
      await client.query(`SELECT set_config('authdb.identity', $1, true)`, [value.replace('|second:alice|second:|{', '|alice||{')]);
      await expect(client.query('SELECT auth.user_id()')).rejects.toThrow(/seal does not match/);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });
});
