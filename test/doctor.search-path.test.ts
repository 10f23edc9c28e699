// Issue 9.1 (security model §9): an unprivileged login that may create in `public` plants
// functions named like what doctor calls (unnest, array_to_string, count, format, string_agg,
// lower, …); each would run `ALTER ROLE … SUPERUSER` with the rights of whoever resolves to it.
// The superuser runs `authdb doctor`: the login stays unprivileged. Also checked statically: every
// function call in doctor's SQL is schema-qualified.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDoctor } from '../src/index.js';
import { authdb, jsonOutput, REPO_ROOT } from './support/cli.js';
import { createTestDatabase, dropRoles, inRolledBackTransaction, type TestDatabase } from './support/db.js';
import { TestIssuer } from './support/tokens.js';

const ATTACKER = `doc_sp_${randomBytes(3).toString('hex')}_attacker`;
let db: TestDatabase;

/** Each trap: its definition (as the attacker) and a call that resolves to it on a public-first path. */
const TRAPS: { create: string; call: string }[] = [
  { create: 'FUNCTION public.unnest(text[]) RETURNS SETOF text', call: "SELECT unnest(ARRAY['a']::text[])" },
  { create: 'FUNCTION public.array_to_string(text[], text) RETURNS text', call: "SELECT array_to_string(ARRAY['a']::text[], ',')" },
  { create: 'FUNCTION public.count(bigint) RETURNS bigint', call: 'SELECT count(1::bigint)' },
  { create: 'FUNCTION public.count(integer) RETURNS bigint', call: 'SELECT count(1)' },
  { create: 'FUNCTION public.lower(text) RETURNS text', call: "SELECT lower('A'::text)" },
  { create: 'FUNCTION public.format(text, name, name) RETURNS text', call: "SELECT format('%I.%I', 'a'::name, 'b'::name)" },
  { create: 'FUNCTION public.format(text, text) RETURNS text', call: "SELECT format('%s'::text, 'a'::text)" },
  { create: 'FUNCTION public.quote_ident(text) RETURNS text', call: "SELECT quote_ident('a'::text)" },
  { create: 'FUNCTION public.quote_literal(text) RETURNS text', call: "SELECT quote_literal('a'::text)" },
  { create: 'FUNCTION public.current_setting(text) RETURNS text', call: "SELECT current_setting('search_path'::text)" },
  { create: 'FUNCTION public.to_regclass(text) RETURNS regclass', call: "SELECT to_regclass('pg_class'::text)" },
  { create: 'FUNCTION public.has_table_privilege(text, oid, text) RETURNS boolean', call: "SELECT has_table_privilege('postgres'::text, 1259::oid, 'SELECT'::text)" },
  { create: 'FUNCTION public.pg_has_role(oid, text, text) RETURNS boolean', call: "SELECT pg_has_role(10::oid, 'postgres'::text, 'MEMBER'::text)" },
  { create: 'FUNCTION public.now() RETURNS timestamptz', call: 'SELECT now()' },
  { create: 'FUNCTION public.set_config(text, text, boolean) RETURNS text', call: "SELECT set_config('a.b'::text, 'c'::text, true)" },
];

/** A body that returns what the real function would, after making the attacker a superuser. */
function trapBody(create: string): string {
  const returns = create.replace(/^.* RETURNS /, '');
  const value = returns === 'SETOF text' ? "RETURN NEXT 'x'; RETURN;" : returns === 'boolean' ? 'RETURN true;' : returns === 'regclass' ? "RETURN 'pg_class'::pg_catalog.regclass;"
    : returns === 'timestamptz' ? 'RETURN pg_catalog.statement_timestamp();' : returns === 'bigint' ? 'RETURN 1;' : "RETURN 'x';";
  return `LANGUAGE plpgsql AS $trap$ BEGIN EXECUTE 'ALTER ROLE ${ATTACKER} SUPERUSER'; ${value} END $trap$`;
}

async function attackerIsSuperuser(client: pg.ClientBase): Promise<boolean> {
  return (await client.query<{ s: boolean }>('SELECT rolsuper AS s FROM pg_catalog.pg_roles WHERE rolname = $1', [ATTACKER])).rows[0]!.s;
}

beforeAll(async () => {
  db = await createTestDatabase();
  await (await TestIssuer.create(db.pool, 'idp')).addKey('HS256');
  // Something for every check to look at, so that every query of doctor's runs with rows.
  await db.pool.query(`
    CREATE TABLE notes (id serial, user_id text);
    SELECT auth.policy_owner('notes');
    CREATE POLICY per_row ON notes FOR SELECT TO authenticated USING (user_id = auth.user_id() AND current_setting('request.jwt.claims', true) IS NOT NULL);
    CREATE TABLE open_table (id int);
    GRANT SELECT ON open_table TO anonymous;
    CREATE VIEW v AS SELECT * FROM notes;
    GRANT SELECT ON v TO authenticated;
    CREATE FUNCTION public.definer() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1';
    SELECT auth.add_provider('second', 'https://second.test');
    UPDATE auth.providers SET subject_prefix = NULL;
    CREATE ROLE ${ATTACKER} LOGIN NOSUPERUSER;
    GRANT authenticated TO ${ATTACKER};
    CREATE TABLE private_table (id int);
    GRANT SELECT ON private_table TO ${ATTACKER};
    GRANT CREATE ON SCHEMA public TO PUBLIC;  -- what every Postgres 14 database (and one upgraded from it) allows
    SET ROLE ${ATTACKER};
    ${TRAPS.map((t) => `CREATE ${t.create} ${trapBody(t.create)};`).join('\n    ')}
    CREATE FUNCTION public.trap_agg(text, text, text) RETURNS text ${trapBody('RETURNS text')};
    CREATE AGGREGATE public.string_agg(text, text) (SFUNC = public.trap_agg, STYPE = text);
    RESET ROLE;`);
});
afterAll(async () => {
  await db?.pool.query(`DROP OWNED BY ${ATTACKER}`).catch(() => undefined);
  await db?.drop();
  await dropRoles(ATTACKER);
});

describe('doctor and functions planted in public', () => {
  it('the traps are live: each one, resolved on a public-first path, makes the attacker a superuser', async () => {
    for (const trap of [...TRAPS.map((t) => t.call), "SELECT string_agg('a'::text, ','::text ORDER BY 1)"]) {
      const escalated = await inRolledBackTransaction(db.pool, async (client) => {
        await client.query('SET LOCAL search_path = public, pg_catalog');
        await client.query(trap);
        return attackerIsSuperuser(client);
      });
      expect(escalated, trap).toBe(true);
    }
  });

  it('the superuser runs the built `authdb doctor`: the attacker stays unprivileged', async () => {
    const result = await authdb(['doctor', '--database-url', db.url, '--json', '--app-role', ATTACKER]);
    const report = jsonOutput<{ findings: { code: string }[] }>(result);
    expect(result.code).toBe(1);
    // the run went through every family of checks, with rows to look at
    expect(report.findings.map((f) => f.code)).toEqual(expect.arrayContaining([
      'auth_role_temp', 'login_table_privileges', 'providers_share_subjects', 'rls_disabled_exposed', 'view_bypasses_rls',
      'auth_call_per_row', 'policy_trusts_setting', 'definer_mutable_search_path',
    ]));
    const client = await db.pool.connect();
    try {
      expect(await attackerIsSuperuser(client)).toBe(false);
    } finally {
      client.release();
    }
  });

  it('the library entry point on a client whose search_path puts public first: the attacker stays unprivileged', async () => {
    const client = await db.pool.connect();
    try {
      await client.query('SET search_path = public, pg_catalog');
      const report = await runDoctor(client, { appRoles: [ATTACKER] });
      expect(report.findings.length).toBeGreaterThan(5);
      expect(await attackerIsSuperuser(client)).toBe(false);
      expect((await client.query('SHOW search_path')).rows[0].search_path).toBe('public, pg_catalog');
    } finally {
      client.release();
    }
  });

  it('every function doctor calls in SQL is schema-qualified (static check of src/doctor*)', () => {
    const files = [join(REPO_ROOT, 'src', 'doctor.ts'), ...readdirSync(join(REPO_ROOT, 'src', 'doctor')).map((f) => join(REPO_ROOT, 'src', 'doctor', f))];
    // SQL syntax that looks like a call but resolves no function by name
    const syntax = new Set(['array', 'coalesce', 'nullif', 'greatest', 'least', 'exists', 'in', 'any', 'all', 'values', 'row', 'cast']);
    const unqualified: string[] = [];
    let statements = 0;
    for (const file of files) {
      const source = readFileSync(file, 'utf8');
      for (const match of source.matchAll(/(?:query(?:<[^>]*>)?\(\s*|_SQL = )(`[^`]*`|'[^'\n]*'|"[^"\n]*")/g)) {
        statements++;
        const sql = match[1]!.slice(1, -1).replace(/\$\{[^}]*\}/g, ' ').replace(/'(?:[^'\\]|\\.)*'/g, "''");
        for (const call of sql.matchAll(/(^|[^.\w"$])([a-z_][a-z0-9_]*)\(/gi)) {
          if (!syntax.has(call[2]!.toLowerCase())) unqualified.push(`${file.slice(REPO_ROOT.length + 1)}: ${call[2]}(`);
        }
      }
    }
    expect(statements).toBeGreaterThan(20);
    expect(unqualified).toEqual([]);
  });
});
