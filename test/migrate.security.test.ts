// Security model §9: an unprivileged login must not be able to hijack the DBA's install, through
// `authdb migrate` (the built binary) or through the SQL file run with psql. The login gets CREATE
// on schema public (Postgres 14's default; granted to PUBLIC first on 15+, as many databases still
// do), plants a bookkeeping table whose trigger makes it SUPERUSER, and functions in public that
// shadow what an install could call, then waits for the superuser to install.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { packageSources, sqlFileScript } from '../src/bundle.js';
import { MIGRATE_LOCK_KEY, migrateStatus, migrateUp } from '../src/migrate.js';
import { authdb, expectOneLineError, jsonOutput } from './support/cli.js';
import { adminUrl, createTestDatabase, type TestDatabase } from './support/db.js';

const PSQL = '/usr/bin/psql';
const attacker = `attacker_${randomBytes(4).toString('hex')}`;
const PASSWORD = 'attacker-pw';
const databases: TestDatabase[] = [];
let scratch: string;

function as(url: string, user: string, password: string, searchPath?: string): string {
  const u = new URL(url);
  u.username = user;
  u.password = password;
  // The DBA's own session puts public first: the planted functions would win wherever an install
  // relied on the caller's search_path.
  if (searchPath) u.searchParams.set('options', `-c search_path=${searchPath}`);
  return u.toString();
}

async function query(url: string, sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

async function attackerIsSuperuser(): Promise<boolean> {
  const { rows } = await query(adminUrl(), `SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = '${attacker}'`);
  return rows[0].rolsuper as boolean;
}

/** The superuser's URL for `db`, with public first on its search_path. */
const dbaUrl = (db: TestDatabase) => {
  const u = new URL(db.url);
  u.searchParams.set('options', '-c search_path=public,pg_catalog');
  return u.toString();
};
const attackerUrl = (db: TestDatabase) => as(db.url, attacker, PASSWORD);

/** Any call of this, as the superuser, makes the attacker SUPERUSER (and fails quietly as anyone else). */
const ESCALATE = `BEGIN EXECUTE 'ALTER ROLE ${attacker} SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END;`;

const SHADOWS = `
CREATE FUNCTION public.escalate() RETURNS void LANGUAGE plpgsql AS $$ ${ESCALATE} $$;
CREATE FUNCTION public.gen_random_uuid() RETURNS uuid LANGUAGE plpgsql AS $$ BEGIN PERFORM public.escalate(); RETURN pg_catalog.gen_random_uuid(); END $$;
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE plpgsql AS $$ BEGIN PERFORM public.escalate(); RETURN pg_catalog.now(); END $$;
CREATE FUNCTION public.current_setting(text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM public.escalate(); RETURN pg_catalog.current_setting($1); END $$;
CREATE FUNCTION public.set_config(text, text, boolean) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM public.escalate(); RETURN pg_catalog.set_config($1, $2, $3); END $$;
CREATE FUNCTION public.to_regclass(text) RETURNS regclass LANGUAGE plpgsql AS $$ BEGIN PERFORM public.escalate(); RETURN pg_catalog.to_regclass($1); END $$;
CREATE FUNCTION public.pg_advisory_xact_lock(bigint) RETURNS void LANGUAGE plpgsql AS $$ BEGIN PERFORM public.escalate(); PERFORM pg_catalog.pg_advisory_xact_lock($1); END $$;
CREATE FUNCTION public.pg_try_advisory_lock(bigint) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN PERFORM public.escalate(); RETURN pg_catalog.pg_try_advisory_lock($1); END $$;
CREATE FUNCTION public.sha256(bytea) RETURNS bytea LANGUAGE plpgsql AS $$ BEGIN PERFORM public.escalate(); RETURN pg_catalog.sha256($1); END $$;
`;

const TRAPPED_LEDGER = `
CREATE FUNCTION public.escalate_trigger() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM public.escalate(); RETURN NULL; END $$;
CREATE TABLE public.authdb_migrations (id SERIAL PRIMARY KEY, name varchar(255) NOT NULL, run_on timestamp NOT NULL);
CREATE TRIGGER escalate BEFORE INSERT OR UPDATE OR DELETE ON public.authdb_migrations
  FOR EACH STATEMENT EXECUTE FUNCTION public.escalate_trigger();
`;

/** A fresh empty database where the attacker may create in public and has planted everything. */
async function plantedDatabase(options: { ledger: boolean }): Promise<TestDatabase> {
  // Each test starts from an unprivileged attacker, whatever an earlier one did.
  await query(adminUrl(), `ALTER ROLE ${attacker} NOSUPERUSER`);
  const db = await createTestDatabase({ empty: true });
  databases.push(db);
  if (inject('serverVersionNum') >= 150000) await db.pool.query('GRANT CREATE ON SCHEMA public TO PUBLIC');
  await query(attackerUrl(db), SHADOWS + (options.ledger ? TRAPPED_LEDGER : ''));
  return db;
}

function psqlFile(url: string, file: string, settings = ''): { code: number; stderr: string } {
  try {
    execFileSync(PSQL, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', url, '-f', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
      encoding: 'utf8',
      env: { ...process.env, PGOPTIONS: `-c search_path=public,pg_catalog ${settings}` },
    });
    return { code: 0, stderr: '' };
  } catch (error) {
    const e = error as { status: number; stderr: string };
    return { code: e.status, stderr: e.stderr };
  }
}

beforeAll(async () => {
  await query(adminUrl(), `CREATE ROLE ${attacker} LOGIN PASSWORD '${PASSWORD}'`);
  scratch = mkdtempSync(join(tmpdir(), 'authdb-attack-'));
  writeFileSync(join(scratch, 'authdb.sql'), sqlFileScript(packageSources()));
});

afterAll(async () => {
  for (const db of databases) await db.drop().catch(() => undefined);
  await query(adminUrl(), `DROP ROLE IF EXISTS ${attacker}`).catch(() => undefined);
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('an unprivileged login attacks the install paths (security model §9)', () => {
  it('authdb migrate refuses a bookkeeping table the attacker planted, and the attacker stays unprivileged', async () => {
    const db = await plantedDatabase({ ledger: true });
    const result = await authdb(['migrate', '--database-url', dbaUrl(db)]);
    expectOneLineError(result, 1, new RegExp(`refusing to use public\\.authdb_migrations: it belongs to role ${attacker}, not to \\S+ or a superuser; .*DROP TABLE public\\.authdb_migrations`));
    expect(await attackerIsSuperuser()).toBe(false);
    expect((await db.pool.query("SELECT pg_catalog.to_regnamespace('auth') AS auth")).rows[0].auth).toBeNull();

    const json = await authdb(['--json', 'migrate', '--database-url', dbaUrl(db)]);
    expect(json.code).toBe(1);
    expect(jsonOutput<{ error: { code: string } }>(json).error.code).toBe('unsafe_migrations_table');
    expect(await attackerIsSuperuser()).toBe(false);
  });

  it('authdb migrate installs safely beside the planted public functions', async () => {
    const db = await plantedDatabase({ ledger: false });
    const result = await authdb(['migrate', '--database-url', dbaUrl(db)]);
    expect(result.code, result.stderr).toBe(0);
    expect(await attackerIsSuperuser()).toBe(false);
    expect((await db.pool.query('SELECT auth.version() AS v')).rows[0].v).toBe(packageSources().version);
    const again = await authdb(['migrate', 'status', '--database-url', dbaUrl(db)]);
    expect(again.code, again.stderr).toBe(0);
    expect(await attackerIsSuperuser()).toBe(false);
  });

  it('the SQL file run by psql refuses the planted bookkeeping table, and the attacker stays unprivileged', async () => {
    const db = await plantedDatabase({ ledger: true });
    const result = psqlFile(db.url, join(scratch, 'authdb.sql'));
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(new RegExp(`refusing to use public\\.authdb_migrations: it belongs to role ${attacker}`));
    expect(await attackerIsSuperuser()).toBe(false);
  });

  it('the SQL file run by psql installs safely beside the planted public functions', async () => {
    const db = await plantedDatabase({ ledger: false });
    const result = psqlFile(db.url, join(scratch, 'authdb.sql'));
    expect(result, result.stderr).toMatchObject({ code: 0 });
    expect(await attackerIsSuperuser()).toBe(false);
    expect((await db.pool.query('SELECT auth.version() AS v')).rows[0].v).toBe(packageSources().version);
  });
});

describe('the bookkeeping table is refused when anything could run code in it', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ empty: true });
    databases.push(db);
  });

  const CLEAN = `DO $$ BEGIN
      IF (SELECT relkind FROM pg_class WHERE oid = to_regclass('public.authdb_migrations')) = 'v' THEN DROP VIEW public.authdb_migrations; END IF;
    END $$; DROP TABLE IF EXISTS public.ledger_child, public.authdb_migrations CASCADE; DROP FUNCTION IF EXISTS public.t()`;
  const LEDGER = 'CREATE TABLE public.authdb_migrations (id SERIAL PRIMARY KEY, name varchar(255) NOT NULL, run_on timestamp NOT NULL)';
  const cases: [string, string, RegExp][] = [
    ['a view', "CREATE VIEW public.authdb_migrations AS SELECT 1 AS id, 'x'::varchar(255) AS name, now()::timestamp AS run_on", /is not an ordinary table \(relkind v\)/],
    ['a trigger', `${LEDGER}; CREATE FUNCTION public.t() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
      CREATE TRIGGER t AFTER INSERT ON public.authdb_migrations FOR EACH ROW EXECUTE FUNCTION public.t()`, /has triggers/],
    ['a rule', `${LEDGER}; CREATE RULE r AS ON INSERT TO public.authdb_migrations DO ALSO NOTIFY authdb`, /has rules/],
    ['row-level security', `${LEDGER}; ALTER TABLE public.authdb_migrations ENABLE ROW LEVEL SECURITY`, /has row-level security or policies/],
    ['an inheritance child', `${LEDGER}; CREATE TABLE public.ledger_child () INHERITS (public.authdb_migrations)`, /has inheritance parents or children/],
  ];

  it.each(cases)('%s', async (_name, setup, reason) => {
    await db.pool.query(CLEAN);
    await db.pool.query(setup);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await expect(migrateUp(client)).rejects.toThrow(reason);
      await expect(migrateStatus(client)).rejects.toThrow(reason);
    } finally {
      await client.end();
    }
    expect((await db.pool.query("SELECT pg_catalog.to_regnamespace('auth') AS auth")).rows[0].auth).toBeNull();
  });

  it('the library pins search_path on the caller’s client and gives the caller’s value back', async () => {
    await db.pool.query(CLEAN);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await client.query('SET search_path = public, pg_catalog');
      await migrateUp(client);
      expect((await client.query('SHOW search_path')).rows[0].search_path).toBe('public, pg_catalog');
      await expect(migrateUp(client, { lockTimeoutSeconds: -1 })).resolves.toMatchObject({ migrations: [] });
      expect((await client.query('SHOW search_path')).rows[0].search_path).toBe('public, pg_catalog');
    } finally {
      await client.end();
    }
  });
});

describe('authdb migrate --lock-timeout', () => {
  it('gives up naming the pid of any login that holds the migrate lock (the SQL file too)', async () => {
    const db = await plantedDatabase({ ledger: false });
    const holder = new pg.Client({ connectionString: attackerUrl(db) });
    await holder.connect();
    try {
      const pid = (await holder.query('SELECT pg_catalog.pg_backend_pid() AS pid')).rows[0].pid as number;
      await holder.query('SELECT pg_catalog.pg_advisory_lock($1)', [MIGRATE_LOCK_KEY.toString()]);
      const started = Date.now();
      const result = await authdb(['migrate', '--lock-timeout', '1', '--database-url', db.url]);
      const elapsed = Date.now() - started;
      expectOneLineError(result, 1, new RegExp(`gave up after 1 s waiting for the authdb migrate lock held by pid ${pid}; .*pg_terminate_backend\\(${pid}\\)`));
      expect(elapsed).toBeGreaterThanOrEqual(1000);
      expect(elapsed).toBeLessThan(55_000); // well under the 60 s default, on a loaded machine too

      const json = await authdb(['--json', 'migrate', '--lock-timeout', '0', '--database-url', db.url]);
      expect(json.code).toBe(1);
      expect(jsonOutput<{ error: { code: string; message: string } }>(json).error).toMatchObject({
        code: 'lock_timeout',
        message: expect.stringContaining(`pid ${pid}`),
      });

      // The SQL file gives up too: after the session's lock_timeout (else 60 s), naming the pid.
      const sqlFile = psqlFile(db.url, join(scratch, 'authdb.sql'), '-c lock_timeout=1s');
      expect(sqlFile.code).not.toBe(0);
      expect(sqlFile.stderr).toContain(`gave up after lock_timeout 1s waiting for the authdb migrate lock held by pid ${pid}`);

      const usage = await authdb(['migrate', '--lock-timeout', 'soon', '--database-url', db.url]);
      expect(usage.code).not.toBe(0);
      expect(usage.stderr).toMatch(/--lock-timeout/);
    } finally {
      await holder.end();
    }
    const result = await authdb(['migrate', '--lock-timeout', '5', '--database-url', db.url]);
    expect(result.code, result.stderr).toBe(0);
  });
});
