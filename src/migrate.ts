// `authdb migrate`: versioned migrations by node-pg-migrate, then the current function set, all
// under one advisory lock so that concurrent runs serialize and leave one consistent schema.
//
// docs/security.md §9: these run with the DBA's rights, so nothing another login
// created may run inside them. Every entry point pins search_path on the client it is handed (and
// gives the caller's value back), every call is qualified, and the bookkeeping table in `public`,
// where on Postgres 14 (or with CREATE granted on it) any login can create a table first, is used
// only when it is an ordinary table of the installer's with no triggers, rules, policies or
// inheritance.
import pg from 'pg';
import { runner } from 'node-pg-migrate';
import { pinSearchPath } from './connection.js';
import { InstallationError, resolveSchema } from './installation.js';
import { boundSchema, DEFAULT_SCHEMA, schemaOf, withSchema } from './schema.js';
import {
  functionFiles,
  functionsDigest,
  functionSetSteps,
  DROP_STALE_ROUTINES,
  migrationFiles,
  migrationsDir,
  packageVersion,
  recordInstallation,
  STALE_ROUTINES_QUERY,
} from './sources.js';
import { AuthdbError } from './errors.js';
import { inTransaction } from './transaction.js';

/** Advisory-lock key shared by every authdb process that changes the schema. */
export const MIGRATE_LOCK_KEY = 0x61757468_6462n; // "authdb"
export const MIGRATIONS_TABLE = 'authdb_migrations';
export const MIGRATIONS_SCHEMA = 'public';
/**
 * The bookkeeping table of the installation in `schema`: `authdb_migrations` for the default,
 * `authdb_migrations_NAME` for another (two installations in one database keep apart).
 */
export const migrationsTable = (schema: string = DEFAULT_SCHEMA): string =>
  schema === DEFAULT_SCHEMA ? MIGRATIONS_TABLE : `${MIGRATIONS_TABLE}_${schema}`;
/** How long `migrate` waits for another holder of the migrate lock by default. */
export const DEFAULT_LOCK_TIMEOUT_SECONDS = 60;
/** The migration whose Down part drops the auth schema (with CASCADE). */
const SCHEMA_MIGRATION = '0001_auth_schema';
const AUTH_ROLES = ['authenticated', 'anonymous'] as const;

export interface MigrateResult {
  /** The schema authdb is (or was) installed in. */
  schema: string;
  /** Versioned migrations applied (or rolled back) by this run, in order. */
  migrations: string[];
  /** Whether the function set was (re)installed. */
  functionsUpdated: boolean;
  version: string | null;
  /** Routines of an older release that the current function set no longer defines, dropped by this run. */
  droppedFunctions: string[];
  /** `migrate down --drop-dependents`: the user's objects that depended on the auth schema and were dropped with it. */
  droppedDependents: string[];
  /** Problems that did not stop the run, each one line with the SQL that fixes it. */
  warnings: string[];
}

export interface MigrateStatus {
  /** The schema of the installation (found by itself unless given). */
  schema: string;
  applied: { name: string; runOn: Date }[];
  pending: string[];
  installedVersion: string | null;
  packageVersion: string;
  functionsCurrent: boolean;
  /**
   * How the auth schema got here: `extension` (CREATE EXTENSION authdb, incl. pg_tle), `migrate`
   * (`authdb migrate` or the SQL file bundle, which records its migrations the same way), or null.
   */
  installMethod: 'extension' | 'migrate' | null;
}

type Log = (line: string) => void;
const quiet: Log = () => undefined;

export interface MigrateOptions {
  /** Progress lines for humans. */
  log?: Log;
  /** Seconds to wait for another process holding the migrate lock before giving up (default 60). */
  lockTimeoutSeconds?: number;
  /** `migrate down` only: drop the user's objects that depend on the auth schema instead of refusing. */
  dropDependents?: boolean;
  /**
   * The schema to install into or act on (default: the installation found in the database, else
   * `auth`). Where `auth` is taken (Supabase, pg_session_jwt), e.g. `authdb`.
   */
  schema?: string;
}

/** A failure of `migrate` with a stable code, the cause and the fix on one line. */
export class MigrateError extends AuthdbError {
  constructor(
    code: string,
    message: string,
    hint?: string,
    /** `dependents`: the user's objects that depend on the auth schema, one readable line each. */
    readonly objects: string[] = [],
    /** The server's error behind it (its SQLSTATE, DETAIL and WHERE, for a verbose report). */
    cause?: unknown,
  ) {
    super(code, hint ? `${message}; ${hint}` : message, { hint, cause });
  }
}

const options = (value: Log | MigrateOptions | undefined): MigrateOptions =>
  typeof value === 'function' ? { log: value } : (value ?? {});

/** Runs `work` with search_path pinned on a client the caller owns, and gives the caller's value back. */
async function withPinnedSearchPath<T>(client: pg.ClientBase, work: () => Promise<T>): Promise<T> {
  const { rows } = await client.query<{ path: string }>("SELECT pg_catalog.current_setting('search_path') AS path");
  await pinSearchPath(client);
  let failed = false;
  try {
    return await work();
  } catch (error) {
    failed = true;
    throw error;
  } finally {
    const restore = client.query("SELECT pg_catalog.set_config('search_path', $1, false)", [rows[0]!.path]);
    // After a failure (a broken connection, say) the first error is the one worth reporting.
    if (failed) await restore.catch(() => undefined);
    else await restore;
  }
}

// ---- the migrate lock ------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The backends holding the migrate lock in this database, ascending, other than this one
 * (pg_locks splits a bigint advisory key into classid, its high 32 bits, and objid). The SQL file
 * bundle names them with this same query.
 */
export const LOCK_HOLDERS_QUERY = `SELECT DISTINCT l.pid
  FROM pg_catalog.pg_locks l
 WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
   AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
   AND l.classid = ${(MIGRATE_LOCK_KEY >> 32n).toString()} AND l.objid = ${(MIGRATE_LOCK_KEY & 0xffffffffn).toString()}
   AND l.pid <> pg_catalog.pg_backend_pid()
 ORDER BY 1`;

async function lockHolders(client: pg.ClientBase): Promise<number[]> {
  const { rows } = await client.query<{ pid: number }>(LOCK_HOLDERS_QUERY);
  return rows.map((row) => row.pid);
}

/**
 * Takes the migrate lock, polling pg_try_advisory_lock so that a session holding it (any login can
 * take an advisory lock) cannot stall the DBA's command forever.
 */
async function acquireMigrateLock(client: pg.ClientBase, timeoutSeconds: number): Promise<void> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (let wait = 50; ; wait = Math.min(wait * 2, 1000)) {
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_catalog.pg_try_advisory_lock($1) AS locked', [
      MIGRATE_LOCK_KEY.toString(),
    ]);
    if (rows[0]?.locked) return;
    const left = deadline - Date.now();
    if (left <= 0) {
      const pids = await lockHolders(client);
      const who = pids.length > 0 ? `pid ${pids.join(', ')}` : 'another session';
      throw new MigrateError(
        'lock_timeout',
        `gave up after ${timeoutSeconds} s waiting for the authdb migrate lock held by ${who}`,
        pids.length > 0
          ? `wait for it to finish, raise --lock-timeout, or end it with SELECT pg_catalog.pg_terminate_backend(${pids[0]})`
          : 'wait for it to finish, or raise --lock-timeout',
      );
    }
    await sleep(Math.min(wait, left));
  }
}

async function withMigrateLock<T>(client: pg.ClientBase, timeoutSeconds: number, work: () => Promise<T>): Promise<T> {
  await acquireMigrateLock(client, timeoutSeconds);
  try {
    return await work();
  } finally {
    await client.query('SELECT pg_catalog.pg_advisory_unlock($1)', [MIGRATE_LOCK_KEY.toString()]);
  }
}

// ---- the bookkeeping table ---------------------------------------------------------------------

/** The bookkeeping table, schema-qualified. */
export const ledgerName = (schema: string = DEFAULT_SCHEMA): string => `${MIGRATIONS_SCHEMA}.${migrationsTable(schema)}`;

/**
 * Why the bookkeeping table must not be used, or no row when it is absent or fine. Anything that
 * could run code when `migrate` reads or writes it (a trigger, a rule, a row-level security policy,
 * a view's functions, an inheritance child's triggers) is refused, and so is a table whose owner
 * is neither the installing role nor a superuser: its owner could add such things at any time.
 * The SQL file bundle runs this same query.
 */
export const ledgerProblemQuery = (schema: string = DEFAULT_SCHEMA): string => `SELECT CASE
         WHEN c.relkind <> 'r'
           THEN 'is not an ordinary table (relkind ' || c.relkind::text || ')'
         WHEN c.relowner <> (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)
              AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid = c.relowner)
           THEN 'belongs to role ' || pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(c.relowner))
                || ', not to ' || pg_catalog.quote_ident(current_user::text)
                || ' or a superuser'
         WHEN EXISTS (SELECT FROM pg_catalog.pg_trigger t WHERE t.tgrelid = c.oid) THEN 'has triggers'
         WHEN c.relhasrules OR EXISTS (SELECT FROM pg_catalog.pg_rewrite w WHERE w.ev_class = c.oid) THEN 'has rules'
         WHEN c.relrowsecurity OR EXISTS (SELECT FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid)
           THEN 'has row-level security or policies'
         WHEN EXISTS (SELECT FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid OR i.inhparent = c.oid)
           THEN 'has inheritance parents or children'
       END AS problem
  FROM pg_catalog.pg_class c
 WHERE c.oid = pg_catalog.to_regclass('${ledgerName(schema)}')`;

/** The hint for a refused bookkeeping table: look at it, then drop it. */
export const ledgerHint = (schema: string = DEFAULT_SCHEMA): string =>
  `inspect it and drop it (DROP TABLE ${ledgerName(schema)}) if authdb did not create it, then run again`;

/** Refuses a bookkeeping table someone else could have planted code in (docs/security.md §9). */
async function checkLedger(client: pg.ClientBase): Promise<void> {
  const schema = schemaOf(client);
  const { rows } = await client.query<{ problem: string | null }>(ledgerProblemQuery(schema));
  const problem = rows[0]?.problem;
  if (problem) throw new MigrateError('unsafe_migrations_table', `refusing to use ${ledgerName(schema)}: it ${problem}`, ledgerHint(schema));
}

/**
 * Creates the bookkeeping table as node-pg-migrate would (same layout), so that it is ours unless
 * someone else's was there first, and then checks it.
 */
async function ensureLedger(client: pg.ClientBase): Promise<void> {
  const LEDGER = ledgerName(schemaOf(client));
  const { rows } = await client.query<{ present: boolean }>('SELECT pg_catalog.to_regclass($1) IS NOT NULL AS present', [LEDGER]);
  if (!rows[0]?.present) {
    try {
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${LEDGER} (id SERIAL PRIMARY KEY, name varchar(255) NOT NULL, run_on timestamp NOT NULL)`,
      );
    } catch (error) {
      const e = error as Partial<pg.DatabaseError>;
      if (e?.code !== '42501') throw error;
      const who = (await client.query<{ who: string }>('SELECT pg_catalog.quote_ident(current_user::text) AS who')).rows[0]!.who;
      throw new MigrateError(
        'permission_denied',
        `role ${who} may not create ${LEDGER}, where authdb records its migrations (${e.message})`,
        `as the owner of schema ${MIGRATIONS_SCHEMA} run: GRANT CREATE ON SCHEMA ${MIGRATIONS_SCHEMA} TO ${who}`,
        [],
        error,
      );
    }
  }
  await checkLedger(client);
}

// ---- install paths -----------------------------------------------------------------------------

/** The version of the authdb extension in this database, or null when it is not installed as one. */
export async function extensionVersion(client: pg.ClientBase): Promise<string | null> {
  const { rows } = await client.query<{ extversion: string }>(
    "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'authdb'",
  );
  return rows[0]?.extversion ?? null;
}

/** The two install paths do not mix: an extension's objects are upgraded by ALTER EXTENSION only. */
async function refuseExtension(client: pg.ClientBase): Promise<void> {
  const version = await extensionVersion(client);
  if (version !== null) {
    throw new MigrateError(
      'installed_as_extension',
      `authdb ${version} is installed as an extension in this database (CREATE EXTENSION authdb): ` +
        'upgrade it with ALTER EXTENSION authdb UPDATE, not authdb migrate',
    );
  }
}

/** One line for a failed migration: the cause and, where we know it, the SQL that fixes it. */
async function migrationFailure(client: pg.ClientBase, error: unknown, migration: string | undefined): Promise<Error> {
  const e = error as Partial<pg.DatabaseError>;
  if (!e?.code || typeof e.message !== 'string') return error instanceof Error ? error : new Error(String(error));
  const { rows } = await client
    .query<{ who: string; db: string }>('SELECT pg_catalog.quote_ident(current_user::text) AS who, pg_catalog.quote_ident(pg_catalog.current_database()) AS db')
    .catch(() => ({ rows: [{ who: 'CURRENT_USER', db: 'CURRENT_DATABASE' }] }));
  const { who, db } = rows[0]!;
  const where = migration ? `migration ${migration} failed` : 'a migration failed';
  if (e.code === '42501' && /create role/i.test(e.message)) {
    return new MigrateError(
      'missing_roles',
      `${where}: role ${who} may not create the roles authenticated and anonymous (it lacks CREATEROLE)`,
      `as a superuser run: CREATE ROLE authenticated NOLOGIN; CREATE ROLE anonymous NOLOGIN; GRANT authenticated, anonymous TO ${who}; then authdb migrate again`,
      [],
      error,
    );
  }
  if (e.code === '42501' && /permission denied for database/i.test(e.message)) {
    return new MigrateError('permission_denied', `${where}: role ${who} may not create schema ${schemaOf(client)}`, `as the database owner run: GRANT CREATE ON DATABASE ${db} TO ${who}`, [], error);
  }
  const message = `${where}: ${e.message} (SQLSTATE ${e.code})`.replace(/\s*\n\s*/g, ' ');
  return new MigrateError('migration_failed', message, e.hint?.replace(/\s*\n\s*/g, ' '), [], error);
}

async function runVersioned(client: pg.ClientBase, direction: 'up' | 'down', count: number | undefined) {
  let current: string | undefined;
  try {
    const ran = await runner({
      dbClient: client,
      dir: migrationsDir(),
      migrationsTable: migrationsTable(schemaOf(client)),
      migrationsSchema: MIGRATIONS_SCHEMA,
      direction,
      count,
      noLock: true, // our own lock covers the function set too
      checkOrder: true,
      singleTransaction: true,
      // node-pg-migrate logs the whole failing SQL as an error: the failure is reported in one line instead.
      logger: {
        debug: () => undefined,
        info: (line: string) => {
          const match = /^### MIGRATION (\S+) \((?:UP|DOWN)\) ###$/.exec(line);
          if (match) current = match[1];
        },
        warn: () => undefined,
        error: () => undefined,
      },
    });
    return ran.map((migration) => migration.name);
  } catch (error) {
    throw await migrationFailure(client, error, current);
  }
}

async function installedState(client: pg.ClientBase): Promise<{ version: string; digest: string } | null> {
  const { rows } = await client.query<{ present: boolean }>(
    "SELECT pg_catalog.to_regclass('auth.installation') IS NOT NULL AS present",
  );
  if (!rows[0]?.present) return null;
  const state = await client.query<{ version: string; functions_sha256: string }>(
    'SELECT version, functions_sha256 FROM auth.installation',
  );
  const row = state.rows[0];
  return row ? { version: row.version, digest: row.functions_sha256 } : null;
}

/**
 * (Re)creates the function set in one transaction when it changed, drops the routines it no
 * longer defines, and records the package version and the set's digest in auth.installation.
 */
async function installFunctions(client: pg.ClientBase, log: Log): Promise<{ updated: boolean; dropped: string[] }> {
  const files = functionFiles(schemaOf(client));
  const digest = functionsDigest(files);
  const version = packageVersion();
  const state = await installedState(client);
  if (!state || (state.digest === digest && state.version === version)) return { updated: false, dropped: [] };
  const updated = state.digest !== digest;
  const dropped: string[] = [];
  if (updated) log(`installing ${files.length} function files`);
  await inTransaction(client, async () => {
    if (updated) {
      // SQL-language bodies may refer to functions defined in a later file.
      await client.query('SET LOCAL check_function_bodies = off');
      for (const step of functionSetSteps(files)) {
        if (step === DROP_STALE_ROUTINES) {
          const stale = await client.query<{ routine: string }>(STALE_ROUTINES_QUERY);
          dropped.push(...stale.rows.map((row) => row.routine));
        }
        await client.query(step.sql);
      }
    }
    await client.query(recordInstallation(version, digest));
  });
  for (const routine of dropped) log(`dropped ${routine}: the current function set no longer defines it`);
  return { updated, dropped };
}

/**
 * Whether the installing role can SET ROLE to the auth roles (withAuth and policy tests need it).
 * Migration 0001 grants the membership where it can; when the roles were made by someone else,
 * this tries again, and what is still missing becomes a warning with the GRANT that fixes it.
 */
async function roleMembershipWarnings(client: pg.ClientBase): Promise<string[]> {
  const check = async () => {
    const { rows } = await client.query<{ rolname: string; present: boolean; can_set: boolean; who: string }>(
      `SELECT r.name AS rolname, a.oid IS NOT NULL AS present,
              a.oid IS NOT NULL AND pg_catalog.pg_has_role(current_user, a.oid,
                CASE WHEN pg_catalog.current_setting('server_version_num')::int >= 160000 THEN 'SET' ELSE 'MEMBER' END) AS can_set,
              pg_catalog.quote_ident(current_user::text) AS who
         FROM pg_catalog.unnest($1::text[]) AS r(name)
         LEFT JOIN pg_catalog.pg_roles a ON a.rolname = r.name
        ORDER BY r.name`,
      [AUTH_ROLES],
    );
    return rows;
  };
  let rows = await check();
  if (rows.some((row) => row.present && !row.can_set)) {
    for (const row of rows.filter((r) => r.present && !r.can_set)) {
      await client.query(`GRANT ${row.rolname} TO ${row.who}`).catch(() => undefined);
    }
    rows = await check();
  }
  const who = rows[0]?.who ?? 'CURRENT_USER';
  const missing = rows.filter((row) => !row.present).map((row) => row.rolname);
  const noSet = rows.filter((row) => row.present && !row.can_set).map((row) => row.rolname);
  const warnings: string[] = [];
  if (missing.length > 0) {
    warnings.push(
      `the role(s) ${missing.join(', ')} do not exist: as a superuser run ${missing.map((name) => `CREATE ROLE ${name} NOLOGIN;`).join(' ')} GRANT ${missing.join(', ')} TO ${who};`,
    );
  }
  if (noSet.length > 0) {
    warnings.push(
      `role ${who} cannot SET ROLE ${noSet.join(', ')}, so withAuth and auth.init as those roles fail for it: as a superuser run GRANT ${noSet.join(', ')} TO ${who};`,
    );
  }
  return warnings;
}

/**
 * The caller's client as a view on the schema to act on (see withSchema): `schema` when given,
 * else the installation found in the database (docs/security.md §9: never one another login
 * owns), else `auth`. A first install ignores another login's look-alike and installs into `auth`.
 */
async function onSchema(client: pg.ClientBase, schema: string | undefined, installing: boolean): Promise<pg.ClientBase> {
  try {
    return withSchema(client, await resolveSchema(client, schema ?? boundSchema(client)));
  } catch (error) {
    if (!(error instanceof InstallationError)) throw error;
    if (installing && schema === undefined && error.code === 'untrusted_installation') return client;
    throw new MigrateError(error.code, error.message.slice(0, -(error.hint.length + 2)), error.hint, [], error);
  }
}

/** A first install into a schema that exists already (Supabase's auth, pg_session_jwt's) stops here. */
async function refuseTakenSchema(client: pg.ClientBase): Promise<void> {
  if ((await appliedNames(client)).length > 0) return;
  const schema = schemaOf(client);
  const { rows } = await client.query<{ taken: boolean }>('SELECT pg_catalog.to_regnamespace($1) IS NOT NULL AS taken', [schema]);
  if (rows[0]?.taken) {
    throw new MigrateError(
      'schema_taken',
      `schema ${schema} already exists and was not created by authdb`,
      `install beside it into a schema of its own: authdb migrate --schema authdb (docs/install.md)`,
    );
  }
}

/** What `migrate up` and `migrate down` report: the migrations they ran and the installation after them. */
async function migrateResult(
  client: pg.ClientBase,
  migrations: string[],
  functions: { updated: boolean; dropped: string[] },
  rest: Pick<MigrateResult, 'droppedDependents' | 'warnings'>,
): Promise<MigrateResult> {
  return {
    schema: schemaOf(client),
    migrations,
    functionsUpdated: functions.updated,
    version: (await installedState(client))?.version ?? null,
    droppedFunctions: functions.dropped,
    ...rest,
  };
}

export async function migrateUp(caller: pg.ClientBase, logOrOptions?: Log | MigrateOptions): Promise<MigrateResult> {
  const { log = quiet, lockTimeoutSeconds = DEFAULT_LOCK_TIMEOUT_SECONDS, schema } = options(logOrOptions);
  return withPinnedSearchPath(caller, async () => {
    const client = await onSchema(caller, schema, true);
    migrationFiles(schemaOf(client)); // fails loudly on a source the schema could not be put into
    await refuseExtension(client);
    return withMigrateLock(client, lockTimeoutSeconds, async () => {
      await ensureLedger(client);
      await refuseTakenSchema(client);
      const migrations = await runVersioned(client, 'up', Infinity);
      for (const name of migrations) log(`applied ${name}`);
      const functions = await installFunctions(client, log);
      const warnings = await roleMembershipWarnings(client);
      for (const warning of warnings) log(`warning: ${warning}`);
      return migrateResult(client, migrations, functions, { droppedDependents: [], warnings });
    });
  });
}

// ---- migrate down --------------------------------------------------------------------------------

/**
 * The user's objects that depend on something in the auth schema (RLS policies calling
 * auth.user_id(), column defaults, views, constraints, triggers, …), as pg_describe_object
 * describes them. DROP SCHEMA auth CASCADE would drop every one of them silently.
 */
const DEPENDENTS_QUERY = `WITH auth_objects (classid, objid) AS (
    SELECT 'pg_catalog.pg_namespace'::pg_catalog.regclass::pg_catalog.oid, n.oid FROM pg_catalog.pg_namespace n WHERE n.nspname = 'auth'
    UNION ALL SELECT 'pg_catalog.pg_class'::pg_catalog.regclass::pg_catalog.oid, c.oid FROM pg_catalog.pg_class c WHERE c.relnamespace = 'auth'::pg_catalog.regnamespace
    UNION ALL SELECT 'pg_catalog.pg_proc'::pg_catalog.regclass::pg_catalog.oid, p.oid FROM pg_catalog.pg_proc p WHERE p.pronamespace = 'auth'::pg_catalog.regnamespace
    UNION ALL SELECT 'pg_catalog.pg_type'::pg_catalog.regclass::pg_catalog.oid, t.oid FROM pg_catalog.pg_type t WHERE t.typnamespace = 'auth'::pg_catalog.regnamespace
  ), dependents AS (
    SELECT DISTINCT d.classid, d.objid, d.objsubid
      FROM pg_catalog.pg_depend d
      JOIN auth_objects a ON a.classid = d.refclassid AND a.objid = d.refobjid
     WHERE d.deptype IN ('n', 'a')
  ), placed AS (
    SELECT x.*, CASE x.classid
        WHEN 'pg_catalog.pg_class'::pg_catalog.regclass THEN (SELECT c.relnamespace FROM pg_catalog.pg_class c WHERE c.oid = x.objid)
        WHEN 'pg_catalog.pg_proc'::pg_catalog.regclass THEN (SELECT p.pronamespace FROM pg_catalog.pg_proc p WHERE p.oid = x.objid)
        WHEN 'pg_catalog.pg_type'::pg_catalog.regclass THEN (SELECT t.typnamespace FROM pg_catalog.pg_type t WHERE t.oid = x.objid)
        WHEN 'pg_catalog.pg_constraint'::pg_catalog.regclass THEN (SELECT k.connamespace FROM pg_catalog.pg_constraint k WHERE k.oid = x.objid)
        WHEN 'pg_catalog.pg_operator'::pg_catalog.regclass THEN (SELECT o.oprnamespace FROM pg_catalog.pg_operator o WHERE o.oid = x.objid)
        WHEN 'pg_catalog.pg_attrdef'::pg_catalog.regclass THEN (SELECT c.relnamespace FROM pg_catalog.pg_attrdef ad JOIN pg_catalog.pg_class c ON c.oid = ad.adrelid WHERE ad.oid = x.objid)
        WHEN 'pg_catalog.pg_policy'::pg_catalog.regclass THEN (SELECT c.relnamespace FROM pg_catalog.pg_policy po JOIN pg_catalog.pg_class c ON c.oid = po.polrelid WHERE po.oid = x.objid)
        WHEN 'pg_catalog.pg_rewrite'::pg_catalog.regclass THEN (SELECT c.relnamespace FROM pg_catalog.pg_rewrite w JOIN pg_catalog.pg_class c ON c.oid = w.ev_class WHERE w.oid = x.objid)
        WHEN 'pg_catalog.pg_trigger'::pg_catalog.regclass THEN (SELECT c.relnamespace FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid WHERE t.oid = x.objid)
      END AS namespace
      FROM dependents x
  )
SELECT pg_catalog.pg_describe_object(p.classid, p.objid, p.objsubid) AS object
  FROM placed p
 WHERE p.namespace IS DISTINCT FROM 'auth'::pg_catalog.regnamespace
 ORDER BY 1`;

/** The user's objects that depend on the auth schema, one readable line each (empty without the schema). */
export async function authDependents(client: pg.ClientBase): Promise<string[]> {
  const { rows } = await client.query<{ present: boolean }>("SELECT pg_catalog.to_regnamespace('auth') IS NOT NULL AS present");
  if (!rows[0]?.present) return [];
  return (await client.query<{ object: string }>(DEPENDENTS_QUERY)).rows.map((row) => row.object);
}

async function appliedNames(client: pg.ClientBase): Promise<string[]> {
  const LEDGER = ledgerName(schemaOf(client));
  const { rows } = await client.query<{ present: boolean }>('SELECT pg_catalog.to_regclass($1) IS NOT NULL AS present', [LEDGER]);
  if (!rows[0]?.present) return [];
  return (await client.query<{ name: string }>(`SELECT name FROM ${LEDGER} ORDER BY run_on, id`)).rows.map((row) => row.name);
}

export async function migrateDown(caller: pg.ClientBase, count = 1, logOrOptions?: Log | MigrateOptions): Promise<MigrateResult> {
  const { log = quiet, lockTimeoutSeconds = DEFAULT_LOCK_TIMEOUT_SECONDS, dropDependents = false, schema } = options(logOrOptions);
  return withPinnedSearchPath(caller, async () => {
    const client = await onSchema(caller, schema, false);
    await refuseExtension(client);
    return withMigrateLock(client, lockTimeoutSeconds, async () => {
      await checkLedger(client);
      // Only the first migration's Down part drops with CASCADE (the whole schema); the others
      // drop columns and tables without it, so Postgres itself refuses while something uses them.
      const dropsSchema = (await appliedNames(client)).slice(-count).includes(SCHEMA_MIGRATION);
      const dependents = dropsSchema ? await authDependents(client) : [];
      if (dependents.length > 0 && !dropDependents) {
        const shown = dependents.slice(0, 5).join('; ') + (dependents.length > 5 ? `; and ${dependents.length - 5} more` : '');
        throw new MigrateError(
          'dependents',
          `refusing to drop the auth schema: ${dependents.length} object(s) of yours depend on it (${shown})`,
          'drop or change them first, or pass --drop-dependents to drop them with it',
          dependents,
        );
      }
      const migrations = await runVersioned(client, 'down', count);
      for (const name of migrations) log(`rolled back ${name}`);
      for (const object of dependents) log(`dropped ${object}`);
      // Functions of the remaining schema are reinstalled if it still exists.
      const state = await installedState(client);
      if (state) await client.query("UPDATE auth.installation SET functions_sha256 = ''");
      const functions = state ? await installFunctions(client, log) : { updated: false, dropped: [] };
      return migrateResult(client, migrations, functions, { droppedDependents: dependents, warnings: [] });
    });
  });
}

export async function migrateStatus(caller: pg.ClientBase, statusOptions: { schema?: string } = {}): Promise<MigrateStatus> {
  return withPinnedSearchPath(caller, async () => {
    const client = await onSchema(caller, statusOptions.schema, false);
    // Reading someone else's table (a view, a policy) could run their code: check it first.
    await checkLedger(client);
    const LEDGER = ledgerName(schemaOf(client));
    const { rows } = await client.query<{ present: boolean }>('SELECT pg_catalog.to_regclass($1) IS NOT NULL AS present', [LEDGER]);
    const applied = rows[0]?.present
      ? (await client.query<{ name: string; run_on: Date }>(`SELECT name, run_on FROM ${LEDGER} ORDER BY run_on, id`)).rows.map(
          (row) => ({ name: row.name, runOn: row.run_on }),
        )
      : [];
    const appliedNames = new Set(applied.map((migration) => migration.name));
    const pending = migrationFiles(schemaOf(client))
      .map((file) => file.name.replace(/\.sql$/, ''))
      .filter((name) => !appliedNames.has(name));
    const state = await installedState(client);
    return {
      schema: schemaOf(client),
      applied,
      pending,
      installedVersion: state?.version ?? null,
      packageVersion: packageVersion(),
      functionsCurrent: state !== null && state.digest === functionsDigest(functionFiles(schemaOf(client))),
      installMethod: (await extensionVersion(client)) !== null ? 'extension' : state !== null ? 'migrate' : null,
    };
  });
}
