// `authdb migrate` through the built binary: upgrading from a release drops the functions it no
// longer defines and records the package's version; `migrate down` refuses to take the user's
// policies and defaults with it; a role without CREATEROLE gets one line with the fix, and a role
// that cannot SET ROLE to the auth roles gets a warning with the GRANT.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageSources, sqlFileScript, type BundleSources } from '../src/bundle.js';
import { migrationFiles, packageVersion } from '../src/sources.js';
import { authdb, expectOneLineError, jsonOutput } from './support/cli.js';
import { createTestDatabase, pgError, type TestDatabase } from './support/db.js';
import { embeddedBinDir, PgCluster } from '../tools/pg-cluster.js';
import { requestedMajor } from './support/server.js';

const databases: TestDatabase[] = [];
afterAll(async () => {
  for (const db of databases) await db.drop().catch(() => undefined);
});
async function database(options: { empty?: boolean } = {}): Promise<TestDatabase> {
  const db = await createTestDatabase(options);
  databases.push(db);
  return db;
}

/** Release 0.1.0 as it shipped: migrations up to 0005, and one SECURITY DEFINER function that 0.2 no longer has. */
function releaseWithStaleFunction(): BundleSources {
  const sources = packageSources();
  const at = sources.migrations.findIndex((file) => file.name === '0005_provider_sync.sql');
  return {
    version: '0.1.0',
    migrations: sources.migrations.slice(0, at + 1),
    functions: [
      ...sources.functions,
      {
        name: '98_stale.sql',
        sql: `CREATE OR REPLACE FUNCTION auth._stale_fn() RETURNS text LANGUAGE sql SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp AS $$ SELECT 'stale'::text $$;
GRANT EXECUTE ON FUNCTION auth._stale_fn() TO PUBLIC;`,
      },
    ],
    earlierReleases: [],
  };
}

const staleFunction = async (db: TestDatabase) =>
  (await db.pool.query("SELECT pg_catalog.to_regprocedure('auth._stale_fn()')::text AS fn")).rows[0].fn as string | null;

describe('upgrading from a release', () => {
  it('authdb migrate drops the SECURITY DEFINER function the current set no longer defines, and records the package version', async () => {
    const db = await database({ empty: true });
    await db.pool.query(sqlFileScript(releaseWithStaleFunction()));
    expect(await staleFunction(db)).toBe('auth._stale_fn()');
    expect((await db.pool.query('SELECT auth.version() AS v')).rows[0].v).toBe('0.1.0');

    const result = await authdb(['--json', 'migrate', '--database-url', db.url]);
    expect(result.code, result.stderr).toBe(0);
    const json = jsonOutput<{ migrations: string[]; functionsUpdated: boolean; droppedFunctions: string[]; version: string }>(result);
    expect(json.migrations).toEqual(migrationFiles().slice(5).map((file) => file.name.replace(/\.sql$/, '')));
    expect(json).toMatchObject({ functionsUpdated: true, droppedFunctions: ['auth._stale_fn()'], version: packageVersion() });
    expect(await staleFunction(db)).toBeNull();
    expect((await db.pool.query('SELECT auth.version() AS v')).rows[0].v).toBe(packageVersion());

    const status = jsonOutput<{ installedVersion: string; functionsCurrent: boolean }>(await authdb(['--json', 'migrate', 'status', '--database-url', db.url]));
    expect(status).toMatchObject({ installedVersion: packageVersion(), functionsCurrent: true });
  });

  it('the SQL file drops it too, and keeps it (failing) while a user’s object uses it', async () => {
    const db = await database({ empty: true });
    await db.pool.query(sqlFileScript(releaseWithStaleFunction()));
    await db.pool.query("CREATE VIEW public.uses_stale AS SELECT auth._stale_fn() AS v");
    const error = await pgError(db.pool.query(sqlFileScript(packageSources())));
    expect(error.message).toMatch(/cannot drop function auth\._stale_fn\(\) because other objects depend on it/);
    expect(await staleFunction(db)).toBe('auth._stale_fn()');

    await db.pool.query('DROP VIEW public.uses_stale');
    await db.pool.query(sqlFileScript(packageSources()));
    expect(await staleFunction(db)).toBeNull();
    expect((await db.pool.query('SELECT auth.version() AS v')).rows[0].v).toBe(packageVersion());
  });
});

describe('authdb migrate down and the user’s objects', () => {
  let db: TestDatabase;
  const all = String(migrationFiles().length);
  beforeAll(async () => {
    db = await database();
    await db.pool.query(`
      CREATE TABLE public.notes (id int PRIMARY KEY, owner text NOT NULL DEFAULT auth.user_id(), body text);
      ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
      CREATE POLICY notes_owner ON public.notes USING (owner = (SELECT auth.user_id()));
      CREATE VIEW public.my_notes AS SELECT id FROM public.notes WHERE owner = auth.user_id();`);
  });

  const policies = async () => (await db.pool.query("SELECT count(*)::int AS n FROM pg_policies WHERE tablename = 'notes'")).rows[0].n as number;
  const authSchema = async () => (await db.pool.query("SELECT pg_catalog.to_regnamespace('auth')::text AS s")).rows[0].s as string | null;

  it('refuses to drop the auth schema while they depend on it, and lists each one', async () => {
    const result = await authdb(['migrate', 'down', '--count', all, '--database-url', db.url]);
    expectOneLineError(result, 1, /refusing to drop the auth schema: 3 object\(s\) of yours depend on it \(.*policy notes_owner on table public\.notes.*\); .*--drop-dependents/);
    expect(result.stdout.trim().split('\n').sort()).toEqual([
      'default value for column owner of table public.notes',
      'policy notes_owner on table public.notes',
      'rule _RETURN on view public.my_notes',
    ]);
    expect(await authSchema()).toBe('auth');
    expect(await policies()).toBe(1);

    const json = await authdb(['--json', 'migrate', 'down', '--count', all, '--database-url', db.url]);
    expect(json.code).toBe(1);
    expect(jsonOutput<{ error: { code: string; objects: string[]; hint: string } }>(json).error).toMatchObject({
      code: 'dependents',
      objects: expect.arrayContaining(['policy notes_owner on table public.notes']),
      hint: expect.stringContaining('--drop-dependents'),
    });
  });

  it('a down that keeps the schema is not refused', async () => {
    const result = await authdb(['migrate', 'down', '--database-url', db.url]);
    expect(result.code, result.stderr).toBe(0);
    expect(await policies()).toBe(1);
    expect((await authdb(['migrate', '--database-url', db.url])).code).toBe(0);
  });

  it('--drop-dependents drops them with the schema and says which', async () => {
    const result = await authdb(['migrate', 'down', '--count', all, '--drop-dependents', '--database-url', db.url]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('auth schema removed');
    expect(result.stdout).toContain('dropped policy notes_owner on table public.notes');
    expect(await authSchema()).toBeNull();
    expect(await policies()).toBe(0);
    expect((await authdb(['migrate', '--database-url', db.url])).code).toBe(0);
  });
});

describe('the installing role’s privileges', () => {
  let cluster: PgCluster;
  const installerUrl = () => cluster.url('app', 'installer', 'installer-pw');
  beforeAll(async () => {
    // Roles are cluster-wide and the shared test server has them: this needs a cluster without them.
    cluster = await PgCluster.create({ binDir: embeddedBinDir(requestedMajor()) });
    const admin = new pg.Client({ connectionString: cluster.url() });
    await admin.connect();
    await admin.query("CREATE ROLE installer LOGIN PASSWORD 'installer-pw'");
    await admin.query('CREATE DATABASE app OWNER installer');
    await admin.end();
  }, 120_000);
  afterAll(async () => cluster?.destroy());

  const superuser = async (sql: string) => {
    const client = new pg.Client({ connectionString: cluster.url('app') });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };

  it('without CREATEROLE: one line with the cause and the SQL that fixes it, no SQL dump', async () => {
    const result = await authdb(['migrate', '--database-url', installerUrl()]);
    expectOneLineError(
      result,
      1,
      /migration 0001_auth_schema failed: role installer may not create the roles authenticated and anonymous \(it lacks CREATEROLE\); as a superuser run: CREATE ROLE authenticated NOLOGIN; CREATE ROLE anonymous NOLOGIN; GRANT authenticated, anonymous TO installer; then authdb migrate again/,
    );
    const json = await authdb(['--json', 'migrate', '--database-url', installerUrl()]);
    expect(json.code).toBe(1);
    expect(jsonOutput<{ error: { code: string } }>(json).error.code).toBe('missing_roles');
  });

  it('roles made by someone else without membership: migrate succeeds and warns with the GRANT', async () => {
    await superuser('CREATE ROLE authenticated NOLOGIN; CREATE ROLE anonymous NOLOGIN');
    const json = await authdb(['--json', 'migrate', '--database-url', installerUrl()]);
    expect(json.code, json.stderr).toBe(0);
    expect(jsonOutput<{ warnings: string[] }>(json).warnings).toEqual([
      'role installer cannot SET ROLE anonymous, authenticated, so withAuth and auth.init as those roles fail for it: as a superuser run GRANT anonymous, authenticated TO installer;',
    ]);
    const human = await authdb(['migrate', '--database-url', installerUrl()]);
    expect(human.code).toBe(0);
    expect(human.stderr).toMatch(/^warning: role installer cannot SET ROLE anonymous, authenticated.*GRANT anonymous, authenticated TO installer;$/m);

    await superuser('GRANT anonymous, authenticated TO installer');
    const fixed = await authdb(['--json', 'migrate', '--database-url', installerUrl()]);
    expect(jsonOutput<{ warnings: string[] }>(fixed).warnings).toEqual([]);
  });
});
