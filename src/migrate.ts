// `authdb migrate`: versioned migrations by node-pg-migrate, then the current function set, all
// under one advisory lock so that concurrent runs serialize and leave one consistent schema.
import pg from 'pg';
import { runner } from 'node-pg-migrate';
import { functionFiles, functionsDigest, migrationFiles, migrationsDir, packageVersion } from './sources.js';

/** Advisory-lock key shared by every authdb process that changes the schema. */
export const MIGRATE_LOCK_KEY = 0x61757468_6462n; // "authdb"
export const MIGRATIONS_TABLE = 'authdb_migrations';
export const MIGRATIONS_SCHEMA = 'public';

export interface MigrateResult {
  /** Versioned migrations applied (or rolled back) by this run, in order. */
  migrations: string[];
  /** Whether the function set was (re)installed. */
  functionsUpdated: boolean;
  version: string | null;
}

export interface MigrateStatus {
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

async function withMigrateLock<T>(client: pg.ClientBase, work: () => Promise<T>): Promise<T> {
  await client.query('SELECT pg_catalog.pg_advisory_lock($1)', [MIGRATE_LOCK_KEY.toString()]);
  try {
    return await work();
  } finally {
    await client.query('SELECT pg_catalog.pg_advisory_unlock($1)', [MIGRATE_LOCK_KEY.toString()]);
  }
}

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
    throw new Error(
      `authdb ${version} is installed as an extension in this database (CREATE EXTENSION authdb): ` +
        'upgrade it with ALTER EXTENSION authdb UPDATE, not authdb migrate',
    );
  }
}

async function runVersioned(client: pg.ClientBase, direction: 'up' | 'down', count: number | undefined, log: Log) {
  const ran = await runner({
    dbClient: client,
    dir: migrationsDir(),
    migrationsTable: MIGRATIONS_TABLE,
    migrationsSchema: MIGRATIONS_SCHEMA,
    direction,
    count,
    noLock: true, // our own lock covers the function set too
    checkOrder: true,
    singleTransaction: true,
    logger: { debug: () => undefined, info: () => undefined, warn: log, error: log },
  });
  return ran.map((migration) => migration.name);
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

/** (Re)creates every function from sql/functions/ in one transaction, when the set changed. */
async function installFunctions(client: pg.ClientBase, log: Log): Promise<boolean> {
  const files = functionFiles();
  const digest = functionsDigest(files);
  const state = await installedState(client);
  if (!state || state.digest === digest) return false;
  log(`installing ${files.length} function files`);
  await client.query('BEGIN');
  try {
    // SQL-language bodies may refer to functions defined in a later file.
    await client.query('SET LOCAL check_function_bodies = off');
    for (const file of files) await client.query(file.sql);
    await client.query('UPDATE auth.installation SET functions_sha256 = $1, updated_at = pg_catalog.now()', [digest]);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
  return true;
}

export async function migrateUp(client: pg.ClientBase, log: Log = quiet): Promise<MigrateResult> {
  await refuseExtension(client);
  return withMigrateLock(client, async () => {
    const migrations = await runVersioned(client, 'up', Infinity, log);
    for (const name of migrations) log(`applied ${name}`);
    const functionsUpdated = await installFunctions(client, log);
    return { migrations, functionsUpdated, version: (await installedState(client))?.version ?? null };
  });
}

export async function migrateDown(client: pg.ClientBase, count = 1, log: Log = quiet): Promise<MigrateResult> {
  await refuseExtension(client);
  return withMigrateLock(client, async () => {
    const migrations = await runVersioned(client, 'down', count, log);
    for (const name of migrations) log(`rolled back ${name}`);
    // Functions of the remaining schema are reinstalled if it still exists.
    const state = await installedState(client);
    if (state) await client.query("UPDATE auth.installation SET functions_sha256 = ''");
    const functionsUpdated = state ? await installFunctions(client, log) : false;
    return { migrations, functionsUpdated, version: (await installedState(client))?.version ?? null };
  });
}

export async function migrateStatus(client: pg.ClientBase): Promise<MigrateStatus> {
  const { rows } = await client.query<{ present: boolean }>(
    `SELECT pg_catalog.to_regclass($1) IS NOT NULL AS present`,
    [`${MIGRATIONS_SCHEMA}.${MIGRATIONS_TABLE}`],
  );
  const applied = rows[0]?.present
    ? (
        await client.query<{ name: string; run_on: Date }>(
          `SELECT name, run_on FROM ${MIGRATIONS_SCHEMA}.${MIGRATIONS_TABLE} ORDER BY run_on, id`,
        )
      ).rows.map((row) => ({ name: row.name, runOn: row.run_on }))
    : [];
  const appliedNames = new Set(applied.map((migration) => migration.name));
  const pending = migrationFiles()
    .map((file) => file.name.replace(/\.sql$/, ''))
    .filter((name) => !appliedNames.has(name));
  const state = await installedState(client);
  return {
    applied,
    pending,
    installedVersion: state?.version ?? null,
    packageVersion: packageVersion(),
    functionsCurrent: state !== null && state.digest === functionsDigest(),
    installMethod: (await extensionVersion(client)) !== null ? 'extension' : state !== null ? 'migrate' : null,
  };
}
