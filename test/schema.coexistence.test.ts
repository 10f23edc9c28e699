// Installing where `auth` is taken (issue 14): beside Supabase's own auth schema and beside
// pg_session_jwt's functions, through `authdb migrate --schema authdb` and the SQL file; every other
// command then finds the installation by itself, and never one that another login planted.
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageSources, sqlFileScript } from '../src/bundle.js';
import { migrateDown, migrateStatus, migrateUp } from '../src/migrate.js';
import { checkSchemaName, qualify } from '../src/schema.js';
import { withAuth } from '../src/with-auth.js';
import { authdb, expectOneLineError, jsonOutput } from './support/cli.js';
import { adminUrl, createTestDatabase, pgError, type TestDatabase } from './support/db.js';
import { qualifyQueries } from './support/schema.js';
import { TestIssuer } from './support/tokens.js';
import { databaseUrl } from './support/urls.js';

const suffix = randomBytes(4).toString('hex');
const supabaseAdmin = `supabase_auth_admin_${suffix}`;
const mallory = `mallory_${suffix}`;

/**
 * Supabase's layout: schema auth owned by its own admin role, with uid(), role() and jwt() reading
 * the `request.jwt.claims` setting PostgREST writes, a users table, and the roles anon and
 * authenticated (authenticated exists already on this cluster: the template made it).
 */
const SUPABASE = `
CREATE SCHEMA auth AUTHORIZATION ${supabaseAdmin};
SET ROLE ${supabaseAdmin};
CREATE TABLE auth.users (id uuid PRIMARY KEY, email text);
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),
                  (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'))::uuid $$;
CREATE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('request.jwt.claim.role', true), ''),
                  (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role'))::text $$;
CREATE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('request.jwt.claim', true), ''),
                  nullif(current_setting('request.jwt.claims', true), ''))::jsonb $$;
GRANT USAGE ON SCHEMA auth TO anon, authenticated;
RESET ROLE;
`;

/** pg_session_jwt's API (Neon): its functions live in schema auth, owned by the extension's role. */
const PG_SESSION_JWT = `
CREATE SCHEMA auth AUTHORIZATION ${supabaseAdmin};
SET ROLE ${supabaseAdmin};
CREATE FUNCTION auth.init() RETURNS void LANGUAGE sql AS $$ SELECT NULL::void $$;
CREATE FUNCTION auth.jwt_session_init(jwt text) RETURNS void LANGUAGE sql AS $$ SELECT NULL::void $$;
CREATE FUNCTION auth.session() RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"pg_session_jwt": true}'::jsonb $$;
CREATE FUNCTION auth.user_id() RETURNS text LANGUAGE sql AS $$ SELECT 'pg_session_jwt'::text $$;
GRANT USAGE ON SCHEMA auth TO PUBLIC;
RESET ROLE;
`;

/** What schema auth holds (function signatures with their owners), to show authdb left it alone. */
async function authSchemaCatalog(client: pg.ClientBase | pg.Pool): Promise<string[]> {
  const { rows } = await client.query<{ item: string }>(`
    SELECT p.oid::regprocedure::text || ' ' || pg_catalog.pg_get_userbyid(p.proowner) || ' ' || pg_catalog.md5(p.prosrc) AS item
      FROM pg_catalog.pg_proc p WHERE p.pronamespace = pg_catalog.to_regnamespace('auth')
    UNION ALL
    SELECT 'schema owner ' || pg_catalog.pg_get_userbyid(n.nspowner) FROM pg_catalog.pg_namespace n WHERE n.nspname = 'auth'
    ORDER BY 1`);
  return rows.map((row) => row.item);
}

async function admin(sql: string, url = adminUrl()): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

const databases: TestDatabase[] = [];
/**
 * An empty database (with a fixture). Its pool sends SQL as written: `auth.` here means Supabase's
 * or pg_session_jwt's schema, whatever AUTHDB_TEST_SCHEMA says.
 */
async function emptyDatabase(fixture = ''): Promise<TestDatabase> {
  const created = await createTestDatabase({ empty: true });
  const pool = new pg.Pool({ connectionString: created.url, max: 4 });
  const db = { ...created, pool, drop: async () => {
    await pool.end();
    await created.drop();
  } };
  databases.push(db);
  if (fixture) await admin(fixture, db.url);
  return db;
}

beforeAll(async () => {
  await admin(`CREATE ROLE ${supabaseAdmin} NOLOGIN;
    DO $$ BEGIN CREATE ROLE anon NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
    CREATE ROLE ${mallory} LOGIN PASSWORD 'mallory'`);
});

afterAll(async () => {
  for (const db of databases) await db.drop();
  await admin(`DROP ROLE IF EXISTS ${supabaseAdmin}; DROP ROLE IF EXISTS ${mallory}`).catch(() => undefined);
});

describe('schema names', () => {
  it('accepts names that are their own quoted form and refuses every other (exit 2)', async () => {
    const client = new pg.Client({ connectionString: adminUrl() });
    await client.connect();
    try {
      const keywords = (await client.query<{ word: string }>("SELECT word FROM pg_catalog.pg_get_keywords() WHERE catcode <> 'U'")).rows;
      expect(keywords.length).toBeGreaterThan(50);
      for (const { word } of keywords) expect(() => checkSchemaName(word), word).toThrow(/SQL keyword/);
      for (const name of ['authdb', 'auth_jwt', '_x1', 'a'.repeat(40)]) {
        const { rows } = await client.query<{ quoted: string }>('SELECT pg_catalog.quote_ident($1) AS quoted', [name]);
        expect(rows[0]!.quoted).toBe(checkSchemaName(name));
      }
    } finally {
      await client.end();
    }
    for (const bad of ['Auth', 'my-schema', 'public', 'pg_auth', 'information_schema', 'select', 'a'.repeat(41), '"x"', '']) {
      expect(() => checkSchemaName(bad), bad).toThrow(/invalid schema name/);
    }
    const db = await emptyDatabase();
    for (const bad of ['Bad-Name', 'public', 'user']) {
      const result = await authdb(['migrate', '--schema', bad, '--database-url', db.url, '--json']);
      expectOneLineError(result, 2, /invalid schema name/);
      expect(jsonOutput<{ error: { code: string } }>(result).error.code).toBe('usage');
    }
    expectOneLineError(await authdb(['bundle', '--format', 'sql', '--schema', 'x;drop', '--out', '-']), 2, /invalid schema name/);
  });

  it('a source that names the schema in a form qualify would miss fails loudly', async () => {
    const { checkQualifiable } = await import('../src/schema.js');
    expect(() => checkQualifiable("CREATE FUNCTION auth.f() RETURNS int LANGUAGE sql\n  SET search_path = auth, pg_temp AS $$ SELECT 1 $$;", 'x.sql')).toThrow(/x\.sql:2: "auth"/);
    expect(() => checkQualifiable('SELECT "auth".f()', 'y.sql')).toThrow(/y\.sql:1/);
    expect(() => checkQualifiable("-- the auth schema\nSELECT auth.f(), 'auth'::regnamespace, 'auth schema prose'; GRANT USAGE ON SCHEMA auth TO x; SELECT current_setting('authdb.identity')", 'z.sql')).not.toThrow();
    expect(qualify("SELECT auth.f(), 'auth.t'::regclass, 'auth'::regnamespace, current_setting('authdb.identity'), \"auth\".x; DROP SCHEMA auth CASCADE", 'authdb')).toBe(
      "SELECT authdb.f(), 'authdb.t'::regclass, 'authdb'::regnamespace, current_setting('authdb.identity'), \"auth\".x; DROP SCHEMA authdb CASCADE",
    );
  });
});

describe('beside Supabase', () => {
  let db: TestDatabase;
  let before: string[];

  beforeAll(async () => {
    db = await emptyDatabase(SUPABASE);
    before = await authSchemaCatalog(db.pool);
  });

  it('authdb migrate without --schema stops with the command that installs beside it', async () => {
    const result = await authdb(['migrate', '--database-url', db.url, '--json']);
    expect(result.code).toBe(1);
    const error = jsonOutput<{ error: { code: string; message: string; hint: string } }>(result).error;
    expect(error).toMatchObject({ code: 'schema_taken', message: 'schema auth already exists and was not created by authdb' });
    expect(error.hint).toMatch(/authdb migrate --schema authdb/);
    expect(await authSchemaCatalog(db.pool)).toEqual(before);
  });

  it('authdb migrate --schema authdb installs beside it and leaves Supabase\'s auth schema as it was', async () => {
    const result = await authdb(['migrate', '--schema', 'authdb', '--database-url', db.url, '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(jsonOutput<{ schema: string; version: string }>(result)).toMatchObject({ schema: 'authdb', version: expect.any(String) });
    expect(await authSchemaCatalog(db.pool)).toEqual(before);
    const { rows } = await db.pool.query<{ n: number; anon: boolean; authenticated: boolean }>(`
      SELECT (SELECT count(*)::int FROM pg_catalog.pg_proc WHERE pronamespace = 'authdb'::regnamespace) AS n,
             EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'anon') AS anon,
             EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'authenticated') AS authenticated`);
    expect(rows[0]!.n).toBeGreaterThan(20);
    expect(rows[0]).toMatchObject({ anon: true, authenticated: true });
    // Bookkeeping of its own, so another installation in this database keeps apart.
    const ledger = await db.pool.query<{ present: boolean }>("SELECT pg_catalog.to_regclass('public.authdb_migrations_authdb') IS NOT NULL AS present");
    expect(ledger.rows[0]!.present).toBe(true);
    // Running it again without --schema finds it and is a no-op.
    const again = await authdb(['migrate', '--database-url', db.url, '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(jsonOutput(again)).toMatchObject({ schema: 'authdb', migrations: [], functionsUpdated: false });
  });

  it('tokens verify, RLS isolates users through authdb.user_id(), and auth.uid() still reads request.jwt.claims', async () => {
    const pool = new pg.Pool({ connectionString: db.url, max: 2 });
    pool.on('connect', (client) => qualifyQueries(client, 'authdb'));
    try {
      const issuer = await TestIssuer.create(pool, 'supabase');
      const alice = randomUUID();
      const bob = randomUUID();
      await db.pool.query(`
        CREATE TABLE public.notes (owner text NOT NULL DEFAULT authdb.user_id(), body text);
        GRANT SELECT, INSERT ON public.notes TO authenticated;
        SELECT authdb.policy_owner('public.notes', 'owner');
        -- A policy written for Supabase keeps its meaning: Supabase's auth.uid().
        CREATE TABLE public.profiles (id uuid PRIMARY KEY, name text);
        ALTER TABLE public.profiles ENABLE ROW LEVEL SECURITY;
        CREATE POLICY own_profile ON public.profiles TO authenticated USING (id = auth.uid());
        GRANT SELECT ON public.profiles TO authenticated;
        INSERT INTO public.profiles VALUES ('${alice}', 'alice'), ('${bob}', 'bob');`);
      const options = { schema: 'authdb' };
      await withAuth(db.pool, await issuer.hs256({ sub: alice }), (c) => c.query("INSERT INTO public.notes (body) VALUES ('alice''s')"), options);
      await withAuth(db.pool, await issuer.hs256({ sub: bob }), (c) => c.query("INSERT INTO public.notes (body) VALUES ('bob''s')"), options);
      const seen = await withAuth(db.pool, await issuer.hs256({ sub: alice }), async (c) => {
        const notes = await c.query<{ owner: string; body: string }>('SELECT owner, body FROM public.notes');
        const ids = await c.query<{ user_id: string; uid: string | null; claims: unknown }>('SELECT authdb.user_id() AS user_id, auth.uid() AS uid, authdb.session() ->> $1 AS claims', ['sub']);
        // Supabase's auth.uid() reads PostgREST's setting, never authdb's identity.
        await c.query("SELECT pg_catalog.set_config('request.jwt.claims', $1, true)", [JSON.stringify({ sub: bob, role: 'authenticated' })]);
        const supabase = await c.query<{ uid: string; role: string; profiles: string[] }>(
          'SELECT auth.uid()::text AS uid, auth.role() AS role, (SELECT array_agg(name) FROM public.profiles) AS profiles');
        return { notes: notes.rows, ids: ids.rows[0], supabase: supabase.rows[0] };
      }, options);
      expect(seen.notes).toEqual([{ owner: alice, body: "alice's" }]);
      expect(seen.ids).toEqual({ user_id: alice, uid: null, claims: alice });
      expect(seen.supabase).toEqual({ uid: bob, role: 'authenticated', profiles: ['bob'] });
      expect(await authSchemaCatalog(db.pool)).toEqual(before);
    } finally {
      await pool.end();
    }
  });

  it('every other command finds the installation by itself', async () => {
    const providers = await authdb(['provider', 'list', '--database-url', db.url, '--json']);
    expect(providers.code, providers.stderr).toBe(0);
    expect(jsonOutput<{ name: string }[]>(providers).map((p) => p.name)).toEqual(['supabase']);
    const keys = await authdb(['keys', 'list', '--database-url', db.url, '--json']);
    expect(keys.code, keys.stderr).toBe(0);
    expect(jsonOutput<unknown[]>(keys)).toHaveLength(1);
    const status = await authdb(['migrate', 'status', '--database-url', db.url, '--json']);
    expect(jsonOutput(status)).toMatchObject({ schema: 'authdb', pending: [], functionsCurrent: true, installMethod: 'migrate' });
    const verify = await authdb(['verify', 'not.a.token', '--database-url', db.url, '--json']);
    expectOneLineError(verify, 1, /jwt rejected: malformed/);
    const seal = await authdb(['seal', 'rotate', '--database-url', db.url, '--json']);
    expect(seal.code, seal.stderr).toBe(0);
    const doctor = await authdb(['doctor', '--database-url', db.url, '--json']);
    const report = jsonOutput<{ findings: { code: string; fix: string }[] }>(doctor);
    expect(report.findings.some((finding) => finding.code === 'not_installed')).toBe(false);
    expect(report.findings.filter((finding) => /\bauth\.(user_id|session|init|policy_)/.test(finding.fix))).toEqual([]);
  });

  it('migrate down removes authdb and keeps Supabase\'s schema and the shared roles', async () => {
    const copy = await emptyDatabase(SUPABASE);
    const client = new pg.Client({ connectionString: copy.url });
    await client.connect();
    try {
      const kept = await authSchemaCatalog(client);
      const up = await migrateUp(client, { schema: 'authdb' });
      expect(up.schema).toBe('authdb');
      expect((await migrateStatus(client)).schema).toBe('authdb');
      const down = await migrateDown(client, up.migrations.length);
      expect(down).toMatchObject({ schema: 'authdb', version: null });
      expect((await client.query("SELECT pg_catalog.to_regnamespace('authdb') IS NULL AS gone")).rows[0].gone).toBe(true);
      expect(await authSchemaCatalog(client)).toEqual(kept);
      const roles = await client.query("SELECT count(*)::int AS n FROM pg_catalog.pg_roles WHERE rolname IN ('anon', 'authenticated', 'anonymous')");
      expect(roles.rows[0].n).toBe(3);
    } finally {
      await client.end();
    }
  });

  it('the SQL file bundle honours --schema', async () => {
    const copy = await emptyDatabase(SUPABASE);
    const kept = await authSchemaCatalog(copy.pool);
    const file = await authdb(['bundle', '--format', 'sql', '--schema', 'authdb', '--out', '-']);
    expect(file.code, file.stderr).toBe(0);
    expect(file.stdout).not.toMatch(/(?<![\w."$])auth\.[a-z_]/);
    expect(file.stdout).toBe(sqlFileScript(packageSources('authdb')));
    await copy.pool.query(file.stdout);
    await copy.pool.query(file.stdout); // idempotent
    expect(await authSchemaCatalog(copy.pool)).toEqual(kept);
    const status = await authdb(['migrate', 'status', '--database-url', copy.url, '--json']);
    expect(jsonOutput(status)).toMatchObject({ schema: 'authdb', pending: [], functionsCurrent: true });
    // The default schema's file stops on Supabase's auth schema and changes nothing.
    const other = await emptyDatabase(SUPABASE);
    const error = await pgError(other.pool.query(sqlFileScript(packageSources())));
    expect(error.message).toMatch(/schema "auth" already exists/);
  });
});

describe('beside pg_session_jwt', () => {
  it('installs into authdb; its auth.init, auth.session, auth.user_id and auth.jwt_session_init stay its own', async () => {
    const db = await emptyDatabase(PG_SESSION_JWT);
    const before = await authSchemaCatalog(db.pool);
    expect(before.filter((item) => item.includes('('))).toHaveLength(4);
    const result = await authdb(['migrate', '--schema', 'authdb', '--database-url', db.url]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^authdb schema \S+: \d+ migration\(s\) applied, functions installed$/m);
    expect(await authSchemaCatalog(db.pool)).toEqual(before);
    const pool = new pg.Pool({ connectionString: db.url, max: 1 });
    pool.on('connect', (client) => qualifyQueries(client, 'authdb'));
    try {
      const issuer = await TestIssuer.create(pool, 'neon');
      const token = await issuer.hs256({ sub: 'carol' });
      const ids = await withAuth(db.pool, token, async (c) =>
        (await c.query('SELECT authdb.user_id() AS ours, auth.user_id() AS theirs, auth.session() AS session')).rows[0], { schema: 'authdb' });
      expect(ids).toEqual({ ours: 'carol', theirs: 'pg_session_jwt', session: { pg_session_jwt: true } });
    } finally {
      await pool.end();
    }
  });
});

describe('discovery refuses what another login planted', () => {
  const plant = (schema: string) => `
    SET ROLE ${mallory};
    CREATE SCHEMA ${schema};
    COMMENT ON SCHEMA ${schema} IS 'authdb: JWT verification and sealed identity for row-level security';
    CREATE TABLE ${schema}.installation (singleton boolean PRIMARY KEY, version text, functions_sha256 text);
    CREATE FUNCTION ${schema}.verify(text) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"sub": "planted"}'::jsonb $$;
    CREATE TABLE ${schema}.providers (name text, issuer text);
    RESET ROLE;`;

  let db: TestDatabase;
  beforeAll(async () => {
    db = await emptyDatabase();
    await admin(`GRANT CREATE ON DATABASE ${db.name} TO ${mallory}`, db.url);
  });

  it('a look-alike installation owned by another login is ignored beside the real one, and refused alone', async () => {
    // Alone: refused, with or without --schema.
    await admin(plant('evil'), db.url);
    const alone = await authdb(['provider', 'list', '--database-url', db.url, '--json']);
    expectOneLineError(alone, 1, /refusing the authdb installation in schema evil: it belongs to role mallory_/);
    expect(jsonOutput<{ error: { code: string } }>(alone).error.code).toBe('untrusted_installation');
    expectOneLineError(await authdb(['verify', 'x.y.z', '--schema', 'evil', '--database-url', db.url]), 1, /refusing the authdb installation in schema evil/);

    // The DBA's first migrate is not stopped by it, and installs into auth.
    const migrate = await authdb(['migrate', '--database-url', db.url, '--json']);
    expect(migrate.code, migrate.stderr).toBe(0);
    expect(jsonOutput(migrate)).toMatchObject({ schema: 'auth' });
    const list = await authdb(['provider', 'list', '--database-url', db.url, '--json']);
    expect(list.code, list.stderr).toBe(0);
    expect(jsonOutput(list)).toEqual([]);
    const status = await authdb(['migrate', 'status', '--database-url', db.url, '--json']);
    expect(jsonOutput(status)).toMatchObject({ schema: 'auth' });
  });

  it('two installations of the DBA\'s: a clear error asking for --schema', async () => {
    const migrate = await authdb(['migrate', '--schema', 'authdb2', '--database-url', db.url, '--json']);
    expect(migrate.code, migrate.stderr).toBe(0);
    const both = await authdb(['provider', 'list', '--database-url', db.url, '--json']);
    expectOneLineError(both, 1, /this database has 2 authdb installations \(schemas auth, authdb2\)/);
    expect(jsonOutput<{ error: { code: string; hint: string } }>(both).error).toMatchObject({ code: 'ambiguous_installation', hint: 'choose one with --schema auth' });
    const chosen = await authdb(['provider', 'list', '--schema', 'authdb2', '--database-url', db.url, '--json']);
    expect(chosen.code, chosen.stderr).toBe(0);
    const down = await authdb(['migrate', 'down', '--count', '99', '--schema', 'authdb2', '--database-url', db.url, '--json']);
    expect(down.code, down.stderr).toBe(0);
    expect(jsonOutput(down)).toMatchObject({ schema: 'authdb2', version: null });
    const one = await authdb(['provider', 'list', '--database-url', databaseUrl(adminUrl(), db.name), '--json']);
    expect(one.code, one.stderr).toBe(0);
  });
});
